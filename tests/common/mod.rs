//! The `psi serve` child process shared by the end-to-end tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const PSI: &str = env!("CARGO_BIN_EXE_psi");

/// A `psi serve` child process on a free port; killed on drop.
pub struct Server {
    pub child: Child,
    /// What it printed after `listening on `.
    pub url: String,
}

impl Server {
    /// `psi serve --listen 127.0.0.1:0 ARGS`; reads the address it prints.
    pub fn spawn(args: &[OsString]) -> Server {
        Self::spawn_at("127.0.0.1:0", args)
    }

    /// `psi serve --listen LISTEN ARGS`; reads the address it prints.
    pub fn spawn_at(listen: &str, args: &[OsString]) -> Server {
        let mut child = Command::new(PSI)
            .args(["serve", "--listen", listen])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server { child, url }
    }

    /// Waits (bounded) for a `--once` server to exit by itself.
    pub fn wait_exit(mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
