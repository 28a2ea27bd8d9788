//! Running the policy alternatives of a scenario in parallel (rayon). Each run is the pure
//! engine; the threads only decide which runs go where, so results do not depend on the
//! number of threads.

use rayon::prelude::*;

use crate::report::Report;
use crate::scenario::Scenario;
use crate::sim::Simulation;

/// Run the policy alternatives `selected` (indices into `sc.policies`) with `seed`, in
/// parallel, in order. `progress` is told of simulated seconds as they pass.
pub fn run_policies(sc: &Scenario, selected: &[usize], seed: u64, progress: &(dyn Fn(u64) + Sync)) -> Vec<Report> {
    let chunk = (sc.duration_ns / 200).max(1);
    selected
        .par_iter()
        .map(|&i| {
            let mut sim = Simulation::new(sc, i, seed);
            let mut t = 0;
            loop {
                let before = sim.now();
                t = (t + chunk).min(sim.end());
                let done = sim.run_until(t);
                progress((sim.now() - before) / 1_000_000_000);
                if done {
                    break;
                }
            }
            sim.finish()
        })
        .collect()
}
