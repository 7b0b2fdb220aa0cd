//! `kfpatch set KEY=VALUE...`: set keys of the API server's `params.env`, each value validated the
//! way the API server will read it.

use crate::checkout::install;
use crate::checkout::locate;
use crate::cli::{Cli, SetArgs};
use crate::edit::plan;
use crate::edit::{lock, outcome};
use crate::error::{Failure, Result};
use crate::output::Output;
use crate::output::escape::quoted;

pub fn run(cli: &Cli, args: &SetArgs, io: &mut Output<'_>) -> Result<i32> {
    let mut pairs = Vec::new();
    for pair in &args.pairs {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(Failure::new(format!(
                "set {pair}: expected KEY=VALUE (e.g. VISUALIZATIONSERVICE_PORT=8080)"
            )));
        };
        pairs.push((key.to_string(), value.to_string()));
    }
    let install = locate::find(&cli.dir, cli.install.as_deref())?;
    let _lock = lock::for_writing(&install.root, args.write.choice(), io.err)?;
    let plan = plan::set(&install, &pairs, args.allow_unknown_key)?;
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    let title = format!("set: {}", quoted(&install.display(install::PARAMS_ENV)));
    let code = outcome::finish(&install, &plan, &title, args.write.choice(), &keys, io)?;
    if keys.contains(&"MULTIUSER") {
        let _ = writeln!(
            io.err,
            "warning: set MULTIUSER changes only the switch; 'kfpatch multiuser on|off' also changes the settings that must go with it"
        );
    }
    Ok(code)
}
