//! A private tmux server for driving the real binary in a terminal: send keys, type text, read
//! the screen with `capture-pane`, and wait for a screen condition with a deadline.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A private tmux server (`-L`), so a test never touches a user's sessions; killed on drop.
pub struct Tmux {
    pub socket: String,
    pub session: String,
}

impl Tmux {
    /// Starts `script` in a detached session of `width` × `height` on a server named after
    /// `name` and this process.
    pub fn start(name: &str, script: &Path, width: u16, height: u16) -> Tmux {
        let tmux = Tmux {
            socket: format!("burnwatch-{name}-{}", std::process::id()),
            session: name.to_string(),
        };
        let out = tmux.cmd(&[
            "new-session",
            "-d",
            "-s",
            &tmux.session,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            script.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    pub fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    /// Key names (`Enter`, `Escape`, `C-u`, `5`), one at a time.
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            let out = self.cmd(&["send-keys", "-t", &self.session, k]);
            assert!(
                out.status.success(),
                "send-keys {k}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Literal text (no key-name lookup).
    pub fn type_text(&self, text: &str) {
        let out = self.cmd(&["send-keys", "-t", &self.session, "-l", text]);
        assert!(out.status.success());
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", &self.session]).stdout).into_owned()
    }

    /// Polls the screen until `check` holds; the last screen either way.
    pub fn wait_screen(&self, timeout: Duration, check: impl Fn(&str) -> bool) -> (bool, String) {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return (true, screen);
            }
            if Instant::now() > deadline {
                return (false, screen);
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// Writes an executable shell script: `command`, then `EXIT=<status>` and the terminal's modes
/// (`stty -a`), then a long pause so the pane stays readable.
pub fn pane_script(dir: &Path, name: &str, command: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("#!/bin/sh\n{command}\necho \"EXIT=$?\"\nstty -a\nsleep 600\n"),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    perms.set_mode(0o755);
    std::fs::set_permissions(&path, perms).unwrap();
    path
}
