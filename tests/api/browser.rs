//! The web UI in real headless Chromium: runs `e2e/ui.test.mjs` (node's test runner with
//! playwright-core and Debian's Chromium) against this build's `opschat` binary.
//! Without Chromium, node or `e2e/node_modules` it skips loudly, except under CI=true, where it fails.

use std::path::Path;
use std::process::Command;

#[test]
fn the_web_ui_works_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let e2e = root.join("e2e");
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let missing: Vec<&str> = [
        (!Path::new(&chromium).exists()).then_some("chromium (apt-get install chromium)"),
        Command::new("node")
            .arg("--version")
            .output()
            .is_err()
            .then_some("node"),
        (!e2e.join("node_modules/playwright-core").exists())
            .then_some("e2e/node_modules (cd e2e && npm ci)"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "browser tests are mandatory under CI; missing: {missing:?}"
        );
        eprintln!("\n*** SKIPPED: browser tests need {missing:?} ***\n");
        return;
    }
    let out = Command::new("node")
        .args(["--test", "--test-concurrency=1", "ui.test.mjs"])
        .current_dir(&e2e)
        .env("OPSCHAT_BIN", env!("CARGO_BIN_EXE_opschat"))
        .env("CHROMIUM_PATH", &chromium)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser tests failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("# fail 0") && !stdout.contains("# pass 0"),
        "no browser test ran:\n{stdout}"
    );
}
