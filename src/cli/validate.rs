//! `autosim validate`: check a scenario without running it, and list the programs it would run.

use std::path::Path;

use anyhow::Result;

use super::load;

pub(crate) fn validate(file: &Path) -> Result<()> {
    let ex = load(file)?;
    let sc = &ex.scenario;
    println!(
        "{}: ok: scenario {:?}, {} of simulated time, {} service(s), {} policy alternative(s): {}",
        file.display(),
        sc.name,
        autosim::units::Duration(sc.duration_ns),
        sc.services.len(),
        ex.policies.len(),
        ex.policies.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
    );
    let all: Vec<usize> = (0..ex.policies.len()).collect();
    let commands = autosim::command::commands_of(&ex, &all);
    if !commands.is_empty() {
        println!("it runs programs (only with --allow-commands or {}=1):", autosim::command::ALLOW_ENV);
        for (policy, x) in commands {
            let env: Vec<&str> = autosim::command::BASE_ENV.iter().copied().chain(x.env.iter().map(String::as_str)).collect();
            let dir = if x.dir.as_os_str().is_empty() { Path::new(".") } else { x.dir.as_path() };
            println!(
                "  policy {policy:?} (service {:?}): {} in {}, with the variables {}{}",
                x.service,
                autosim::command::argv_text(&x.command),
                dir.display(),
                env.join(", "),
                x.record.as_ref().map_or(String::new(), |r| format!("; writes its exchanges to {}", r.display()))
            );
        }
    }
    Ok(())
}
