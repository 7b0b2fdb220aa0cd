//! `kfpatch render`: render the target once and show the effective KFP settings the cluster would
//! get, and whether they agree with the files, as text, JSON or YAML.

use serde::Serialize;

use crate::checkout::settings::{InstallJson, JSON_SCHEMA};
use crate::cli::{Cli, RenderArgs, RenderFormat};
use crate::cluster::programs::process::Timeout;
use crate::cluster::render::effective::EffectiveJson;
use crate::cluster::render::{self, Render};
use crate::error::{Failure, Result};
use crate::output::progress::Progress;
use crate::output::{Output, to_json, to_yaml, write_out};

/// `render -o json`: what the text report says, as one object (docs/render.schema.json).
#[derive(Debug, Serialize)]
struct RenderJson<'a> {
    schema: u32,
    install: InstallJson,
    target: TargetJson<'a>,
    kustomize: String,
    /// How many objects the render has.
    objects: usize,
    #[serde(flatten)]
    effective: &'a EffectiveJson,
    /// What makes the exit code 2 (as the error message lists it).
    disagreements: &'a [String],
}

#[derive(Debug, Serialize)]
struct TargetJson<'a> {
    /// Relative to the checkout root.
    path: &'a str,
    /// How `--target` led to it.
    why: &'a str,
}

impl<'a> RenderJson<'a> {
    fn of(p: &'a Render) -> RenderJson<'a> {
        RenderJson {
            schema: JSON_SCHEMA,
            install: InstallJson::of(&p.install),
            target: TargetJson {
                path: &p.target.shown,
                why: &p.target.why,
            },
            kustomize: p.kustomize.describe(),
            objects: p.objects.len(),
            effective: &p.effective.json,
            disagreements: &p.effective.disagreements,
        }
    }
}

/// `kfpatch render`.
pub fn run(cli: &Cli, args: &RenderArgs, io: &mut Output<'_>) -> Result<i32> {
    let mut sink = std::io::sink();
    let mut progress = Progress::new(&mut sink, true);
    let prepared = render::find_and_prepare(
        &cli.dir,
        cli.install.as_deref(),
        &args.target,
        args.kustomize.kustomize.as_deref(),
        Timeout::from_now(&args.timeout)?,
        io.err,
        &mut progress,
    )?;
    drop(progress);
    for line in &prepared.effective.overridden {
        let _ = writeln!(io.err, "warning: {line}");
    }
    let text = match args.format {
        RenderFormat::Text => format!("{}\n{}", prepared.header(), prepared.effective.text),
        RenderFormat::Json => to_json(&RenderJson::of(&prepared))?,
        RenderFormat::Yaml => to_yaml(&RenderJson::of(&prepared))?,
    };
    write_out(io, &text)?;
    if prepared.effective.api_config.is_none() {
        return Err(Failure::new(format!(
            "the render of {} does not contain the KFP API server's ConfigMap; name a target that includes {} (kfp does)",
            prepared.target.shown, prepared.install.rel
        )));
    }
    if !prepared.effective.disagreements.is_empty() {
        return Err(Failure::new(format!(
            "the render disagrees with the files in {} place(s); an overlay or patch above the install overrides them:\n  {}\nchange the override, or render a target that does not have it",
            prepared.effective.disagreements.len(),
            prepared.effective.disagreements.join("\n  ")
        )));
    }
    Ok(0)
}
