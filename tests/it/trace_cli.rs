//! `autosim trace inspect` and `autosim trace plot` as a user runs them: the statistics they
//! print, the files they write (PNG, SVG; deterministic), and exit code 2 with the file named on
//! bad input. Every run happens in a temp folder, so nothing is written into the repository.

use std::path::Path;

/// Run `autosim args...` in `dir`; returns (exit code, stdout, stderr).
fn autosim(dir: &Path, args: &[&str]) -> (i32, String, String) {
    crate::common::autosim_in(dir, args)
}

/// A temp folder holding `name` with `content`.
fn dir_with(name: &str, content: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), content).unwrap();
    dir
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = autosim(dir, args);
    assert_eq!(code, 0, "autosim {args:?}: stderr: {stderr}");
    stdout
}

/// The value of a `name   value` line of the statistics.
fn stat<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name:?} line in:\n{out}"))
        .trim()
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

#[test]
fn inspect_counts_prints_span_total_mean_and_peak() {
    let d = dir_with("load.txt", "1 2 3\n0 4\n");
    let out = ok(d.path(), &["trace", "inspect", "load.txt"]);
    assert_eq!(
        out.lines().next().unwrap(),
        "load.txt: format counts (from the file's extension), replayed as a rate over 1s bins (values read as requests per bin)"
    );
    assert_eq!(stat(&out, "span"), "5s");
    assert_eq!(stat(&out, "requests"), "10 (sum of rate x bin)");
    assert_eq!(stat(&out, "bins"), "5 of 1s");
    assert_eq!(stat(&out, "mean rate"), "2/s");
    assert_eq!(stat(&out, "peak rate"), "4/s");
    assert_eq!(stat(&out, "zero bins"), "1 (20.0%)");
    // The transforms apply: a wider bin, then double speed.
    let out = ok(
        d.path(),
        &[
            "trace",
            "inspect",
            "load.txt",
            "--bin",
            "1m",
            "--speedup",
            "2",
        ],
    );
    assert_eq!(stat(&out, "span"), "2m30s");
    assert_eq!(stat(&out, "requests"), "10 (sum of rate x bin)");
    assert_eq!(stat(&out, "peak rate"), "0.133/s");
}

#[test]
fn inspect_csv_series_by_column_names() {
    let d = dir_with("shop.csv", "time,count\n0,60\n60,120\n120,0\n180,240\n");
    let out = ok(d.path(), &["trace", "inspect", "shop.csv"]);
    assert!(
        out.starts_with(
            "shop.csv: format series (from the file's extension), replayed as a rate over 1m bins"
        ),
        "{out}"
    );
    assert_eq!(stat(&out, "span"), "4m");
    assert_eq!(stat(&out, "requests"), "420 (sum of rate x bin)");
    assert_eq!(stat(&out, "mean rate"), "1.75/s");
    assert_eq!(stat(&out, "peak rate"), "4/s");
    assert_eq!(stat(&out, "longest gap"), "1m (of zero bins)");
    // Columns by name, values as rates, a window, and a target peak.
    let args = [
        "trace",
        "inspect",
        "shop.csv",
        "--format",
        "series",
        "--time",
        "time",
        "--value",
        "count",
        "--values",
        "rate",
        "--start",
        "1m",
        "--peak-rate",
        "10",
    ];
    let out = ok(d.path(), &args);
    assert!(
        out.starts_with(
            "shop.csv: format series, replayed as a rate over 1m bins (values read as requests per second)"
        ),
        "{out}"
    );
    assert_eq!(stat(&out, "span"), "3m");
    assert_eq!(stat(&out, "peak rate"), "10/s");
    assert_eq!(stat(&out, "mean rate"), "5/s");
}

#[test]
fn inspect_request_log() {
    let d = dir_with("log.csv", "t,tokens\n0,5\n0.5,5\n3,7\n3.000000001,1\n");
    let out = ok(
        d.path(),
        &[
            "trace", "inspect", "log.csv", "--format", "requests", "--header", "true",
        ],
    );
    assert!(
        out.starts_with("log.csv: format requests, replayed request by request"),
        "{out}"
    );
    assert_eq!(stat(&out, "requests"), "4");
    assert_eq!(stat(&out, "peak rate"), "2/s");
}

#[test]
fn plot_writes_png_and_svg_beside_it_by_default() {
    let d = dir_with("shop.csv", "time,count\n0,60\n60,120\n120,0\n180,240\n");
    let out = ok(d.path(), &["trace", "plot", "shop.csv", "--svg"]);
    assert!(out.contains("shop.png: 4 points of 1m"), "{out}");
    let png = std::fs::read(d.path().join("shop.png")).unwrap();
    assert!(png.starts_with(PNG_MAGIC));
    let svg = std::fs::read_to_string(d.path().join("shop.svg")).unwrap();
    assert!(svg.contains("<svg"), "{svg}");
    assert!(svg.contains("requests per second (mean over 1m)"));
    // Without --svg, no SVG; with --out, there.
    let out = ok(
        d.path(),
        &["trace", "plot", "shop.csv", "--out", "plots/rate.png"],
    );
    assert!(out.contains("rate.png"), "{out}");
    assert!(std::fs::read(d.path().join("plots/rate.png"))
        .unwrap()
        .starts_with(PNG_MAGIC));
    assert!(!d.path().join("plots/rate.svg").exists());
    // An --out without an extension is given .png (and the SVG goes beside it).
    let out = ok(d.path(), &["trace", "plot", "shop.csv", "--out", "plots/noext", "--svg"]);
    assert!(out.contains("noext.png"), "{out}");
    assert!(std::fs::read(d.path().join("plots/noext.png")).unwrap().starts_with(PNG_MAGIC));
    assert!(d.path().join("plots/noext.svg").is_file() && !d.path().join("plots/noext").exists());
    // Only the plots: no temporary files left behind.
    let mut names: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["plots", "shop.csv", "shop.png", "shop.svg"]);
}

#[test]
fn plot_is_byte_identical_across_runs() {
    let counts: Vec<String> = (0..10_000).map(|i| ((i * 7919) % 23).to_string()).collect();
    let d = dir_with("long.txt", &counts.join(" "));
    // 10,000 one-second bins: coarsened to at most 2,000 points.
    let out = ok(
        d.path(),
        &["trace", "plot", "long.txt", "--out", "a.png", "--svg"],
    );
    assert!(out.contains("a.png: 2000 points of 5s"), "{out}");
    ok(
        d.path(),
        &["trace", "plot", "long.txt", "--out", "b.png", "--svg"],
    );
    let read = |n: &str| std::fs::read(d.path().join(n)).unwrap();
    assert!(read("a.svg") == read("b.svg"), "the SVGs differ");
    assert!(read("a.png") == read("b.png"), "the PNGs differ");
}

/// Exit code 2, `error: ` and every `want` in stderr, and nothing written.
fn bad(dir: &Path, args: &[&str], wants: &[&str]) {
    let before = std::fs::read_dir(dir).unwrap().count();
    let (code, stdout, stderr) = autosim(dir, args);
    assert_eq!(
        code, 2,
        "autosim {args:?}: stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    for want in wants {
        assert!(
            stderr.contains(want),
            "autosim {args:?}: want {want:?} in: {stderr}"
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        before,
        "autosim {args:?} wrote a file"
    );
}

#[test]
fn bad_input_exits_2_naming_the_file_and_line() {
    let d = dir_with("bad.csv", "time,count\n0,1\n60,x\n");
    std::fs::write(d.path().join("ok.txt"), "1 2 3").unwrap();
    for cmd in ["inspect", "plot"] {
        bad(
            d.path(),
            &["trace", cmd, "missing.csv"],
            &["missing.csv: cannot read the trace: no such file"],
        );
        bad(d.path(), &["trace", cmd, "bad.csv"], &["bad.csv:3: "]);
        bad(
            d.path(),
            &["trace", cmd, "ok.txt", "--bin", "5q"],
            &["--bin: invalid duration \"5q\""],
        );
        bad(
            d.path(),
            &["trace", cmd, "ok.txt", "--format", "tsv"],
            &["--format: unknown format \"tsv\""],
        );
        bad(
            d.path(),
            &["trace", cmd, "ok.txt", "--max-gap", "1m"],
            &["ok.txt: --max-gap applies only with"],
        );
        bad(
            d.path(),
            &["trace", cmd, "ok.txt", "--time", "t"],
            &["ok.txt: --time does not apply to --format counts"],
        );
        bad(
            d.path(),
            &["trace", cmd, "ok.txt", "--speedup", "0"],
            &["--speedup must be a number greater than 0"],
        );
        bad(
            d.path(),
            &["trace", cmd, "ok.txt", "--speedup", "fast"],
            &["--speedup"],
        );
        bad(
            d.path(),
            &["trace", cmd, "ok.txt", "--start", "1h"],
            &["ok.txt: the window"],
        );
    }
    bad(
        d.path(),
        &["trace", "plot", "ok.txt", "--out", "x.svg", "--svg"],
        &["--out names the PNG"],
    );
}

/// A series column named like a rate, read as counts per bin (the default), gets a note on
/// stderr; with `--values rate` it does not, and `inspect` says how the values are read.
#[test]
fn a_rate_named_column_read_as_counts_is_noted() {
    let weekly = crate::common::root().join("traces").join("weekly.csv");
    let weekly = weekly.to_str().unwrap();
    let here = Path::new(".");
    let (code, out, err) = autosim(here, &["trace", "inspect", weekly]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("note:") && err.contains("\"rps\"") && err.contains("--values rate"), "{err}");
    assert!(out.contains("values read as requests per bin"), "{out}");
    let (code, out, err) = autosim(here, &["trace", "inspect", weekly, "--values", "rate"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("note:"), "{err}");
    assert!(out.contains("values read as requests per second"), "{out}");
}

/// A CRLF file's errors name the right line.
#[test]
fn crlf_errors_name_the_right_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crlf.csv"), "time,count\r\n0,1\r\n60,2\r\n120,x\r\n").unwrap();
    let (code, _, err) = autosim(dir.path(), &["trace", "inspect", "crlf.csv"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("crlf.csv:4:"), "{err}");
}
