//! `cargo lambda watch` for the end-to-end tests: the function as a developer runs it locally.

use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `cargo lambda watch`, in a process group of its own so that the function it runs is
/// stopped with it.
pub struct Watch {
    child: Child,
    pub port: u16,
}

impl Watch {
    /// Serves the function with the variables `vars` (`K=V,K=V`), up to `concurrency`
    /// instances at once.
    pub fn start(vars: &str, concurrency: usize) -> Watch {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let vars = format!("{vars},RUST_LOG=warn");
        let child = Command::new("cargo")
            .args(["lambda", "watch", "--ignore-changes", "-A", "127.0.0.1", "-P"])
            .arg(port.to_string())
            .args(["--env-vars", &vars, "--concurrency", &concurrency.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("cargo lambda watch: install cargo-lambda (scripts/test.sh does)");
        Watch { child, port }
    }

    /// The function's answer to the event in `file`, or what `cargo lambda invoke` printed
    /// when the function failed.
    pub fn invoke(&self, file: &Path) -> Result<Value, String> {
        let output = Command::new("cargo")
            .args(["lambda", "invoke", "del-job", "-A", "127.0.0.1", "-P"])
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(file)
            .output()
            .expect("cargo lambda invoke");
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!("{stdout}{}", String::from_utf8_lossy(&output.stderr)));
        }
        Ok(serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}")))
    }

    /// Waits until the function is built and answers, by invoking `file` until it does.
    pub fn ready(&self, file: &Path) {
        let started = Instant::now();
        loop {
            let status = Command::new("cargo")
                .args(["lambda", "invoke", "del-job", "-A", "127.0.0.1", "-P"])
                .arg(self.port.to_string())
                .arg("--data-file")
                .arg(file)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("cargo lambda invoke");
            if status.success() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "cargo lambda watch never answered"
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}
