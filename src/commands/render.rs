//! `kfpatch render`: render the target once and show the effective KFP settings the cluster would
//! get, and whether they agree with the files.

use crate::checkout::install;
use crate::cli::{Cli, RenderArgs};
use crate::cluster::render;
use crate::error::{Failure, Result};
use crate::output::progress::Progress;
use crate::output::{Output, write_out};

/// `kfpatch render`.
pub fn run(cli: &Cli, args: &RenderArgs, io: &mut Output<'_>) -> Result<i32> {
    let mut sink = std::io::sink();
    let mut progress = Progress::new(&mut sink, true);
    let install = install::find(&cli.dir, cli.install.as_deref())?;
    let prepared = render::prepare(
        install,
        &args.target,
        args.kustomize.kustomize.as_deref(),
        None,
        io.err,
        &mut progress,
    )?;
    drop(progress);
    write_out(
        io,
        &format!("{}\n{}", prepared.header(), prepared.effective.text),
    )?;
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
