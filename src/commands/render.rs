//! `kfpatch render`: render the target once and show the effective KFP settings the cluster would
//! get, and whether they agree with the files and with the mode they should have (`--expect`,
//! else the files'), as text, JSON or YAML. Exit 1 when they do not.

use serde::Serialize;

use crate::checkout::catalogue::Mode;
use crate::checkout::settings::{InstallJson, JSON_SCHEMA};
use crate::cli::{Cli, OnOff, RenderArgs, RenderFormat};
use crate::cluster::programs::process::Timeout;
use crate::cluster::render::effective::EffectiveJson;
use crate::cluster::render::effective::verdict::{self, Verdict, VerdictJson};
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
    /// Where the render differs from the files (each makes the exit code 1).
    disagreements: &'a [String],
    /// The render held to a mode: `--expect`'s, else the files'.
    verdict: VerdictJson,
}

#[derive(Debug, Serialize)]
struct TargetJson<'a> {
    /// Relative to the checkout root.
    path: &'a str,
    /// How `--target` led to it.
    why: &'a str,
}

impl<'a> RenderJson<'a> {
    fn of(p: &'a Render, verdict: &Verdict) -> RenderJson<'a> {
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
            verdict: verdict.json(),
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
    let expect = args.expect.map(|e| match e {
        OnOff::On => Mode::On,
        OnOff::Off => Mode::Off,
    });
    let verdict = verdict::judge(
        &prepared.install,
        &prepared.target.shown,
        &prepared.objects,
        &prepared.effective,
        &prepared.switched,
        prepared.overlay.as_deref(),
        &prepared.overrides,
        expect,
    )?;
    for line in prepared
        .effective
        .overridden
        .iter()
        .chain(&verdict.warnings())
    {
        let _ = writeln!(io.err, "warning: {line}");
    }
    let text = match args.format {
        RenderFormat::Text => format!(
            "{}\n{}{}",
            prepared.header(),
            prepared.effective.text,
            verdict.text()
        ),
        RenderFormat::Json => to_json(&RenderJson::of(&prepared, &verdict))?,
        RenderFormat::Yaml => to_yaml(&RenderJson::of(&prepared, &verdict))?,
    };
    write_out(io, &text)?;
    if prepared.effective.api_config.is_none() {
        return Err(Failure::new(format!(
            "the render of {} does not contain the KFP API server's ConfigMap; name a target that includes {} (kfp does)",
            prepared.target.shown, prepared.install.rel
        )));
    }
    Ok(verdict.exit_code())
}
