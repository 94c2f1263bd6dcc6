//! A smoke run of the `loadgen` binary: both targets answer every request, and the report has
//! its rows. Timings are not judged.

use std::process::Command;

#[test]
fn a_short_run_reports_both_targets_without_errors() {
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["run", "--clients", "2", "--duration", "1", "--warmup", "0"])
        .output()
        .expect("loadgen runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("| wxpay-mock |"), "{stdout}");
    assert!(stdout.contains("| bare hyper+rustls |"), "{stdout}");
    assert!(stdout.contains("wxpay-mock / ceiling:"), "{stdout}");
}

#[test]
fn a_small_ledger_run_reports_growth_per_packet() {
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "ledger",
            "--clients",
            "2",
            "--packets",
            "2000",
            "--baseline",
            "500",
            "--every",
            "1000",
        ])
        .output()
        .expect("loadgen runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("RSS growth per packet at 2000 packets"),
        "{stdout}"
    );
}
