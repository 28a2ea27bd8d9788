//! The `autosim` command: the edge where files, terminals, threads and clocks live. The
//! command line itself is `cli/`; the simulator is the library (`autosim`).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
