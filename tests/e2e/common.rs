//! Running the built binaries and normalizing what they print.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The path of one of this package's binaries.
pub fn bin(name: &str) -> std::path::PathBuf {
    match name {
        "runiam" => env!("CARGO_BIN_EXE_runiam").into(),
        "runiam-export" => env!("CARGO_BIN_EXE_runiam-export").into(),
        "runiam-emulator" => env!("CARGO_BIN_EXE_runiam-emulator").into(),
        other => panic!("no binary {other} in this package"),
    }
}

/// A command with a clean environment: no gcloud configuration, no
/// credentials, no emulator unless the test sets one.
pub fn cmd(name: &str, home: &Path) -> Command {
    let mut c = Command::new(bin(name));
    c.env_clear()
        .env("HOME", home)
        .env("CLOUDSDK_CONFIG", home.join("gcloud"))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    c
}

/// Runs with `stdin` and renders stdout, stderr and the exit status the way
/// jj's tests do, for snapshots.
pub fn run(mut c: Command, stdin: &str) -> (Output, String) {
    use std::io::Write;
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("binary starts");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}[stderr]\n{}[exit status: {}]",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code().map_or("signal".into(), |c| c.to_string())
    );
    (out, text)
}

/// Runs `runiam ARGS` in `dir` against the emulator with `stdin`; returns
/// (exit code, stdout, stderr).
pub fn runiam(emu: &Emulator, dir: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut c = cmd("runiam", dir);
    c.current_dir(dir).env("RUNIAM_EMULATOR_HOST", emu.host()).args(args);
    let (out, _) = run(c, stdin);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every (role, member, condition) of a policy, sorted: what "the same
/// policy" means to IAM, whatever the order and etag.
pub fn grants(p: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> =
        p["bindings"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|b| {
                b["members"].as_array().into_iter().flatten().map(move |m| {
                    format!("{} {} {}", b["role"], m, b.get("condition").unwrap_or(&serde_json::Value::Null))
                })
            })
            .collect();
    out.sort();
    out
}

/// Runs a shell pipeline of runiam commands in `dir`, with the clean
/// environment of `cmd` and the emulator; renders it as `run` does.
pub fn pipe(emu: &Emulator, dir: &Path, line: &str) -> (Output, String) {
    let c = cmd("runiam", dir);
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(line)
        .current_dir(dir)
        .env_clear()
        .envs(c.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("RUNIAM_EMULATOR_HOST", emu.host());
    run(sh, "")
}

/// PATH with `dir` first.
pub fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut parts = vec![dir.to_owned()];
    parts.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(parts).unwrap()
}

/// Writes an executable shell script.
pub fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The repository root (worlds and examples live there).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A running `runiam-emulator` on a loopback port, stopped on drop.
pub struct Emulator {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`, as the emulator printed it.
    pub url: String,
}

impl Emulator {
    pub fn start(world: &Path, extra: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(bin("runiam-emulator"))
            .arg("--world")
            .arg(world)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("runiam-emulator starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "emulator printed {url:?}");
        Self { child, url }
    }

    /// `host:port`, the short form of RUNIAM_EMULATOR_HOST.
    pub fn host(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replaces what changes from run to run (ports, capture times) for snapshots.
pub fn normalize(text: &str, emulator: &Emulator) -> String {
    let text = text.replace(&emulator.url, "http://[EMULATOR]").replace(emulator.host(), "[EMULATOR]");
    let re_time = |s: &str| -> String {
        // capturedAt: "2026-11-28T22:23:06.123456Z" and the like.
        let mut out = String::new();
        for line in s.lines() {
            match line.split_once("capturedAt") {
                Some((head, _)) => {
                    out.push_str(head);
                    out.push_str("capturedAt: [TIME]");
                }
                None => out.push_str(line),
            }
            out.push('\n');
        }
        out
    };
    re_time(&text)
}

/// One JSON call to the emulator's control plane (for setting up and
/// checking state behind the commands' backs).
pub fn call(emu: &Emulator, method: &str, path: &str, body: Option<serde_json::Value>) -> (u16, serde_json::Value) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let mut req = client.request(method.parse().unwrap(), format!("{}/{path}", emu.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    })
}

/// The emulator's own client (runiam_emulator::client), run to completion.
fn client<T>(emu: &Emulator, f: impl AsyncFnOnce(&runiam_emulator::client::Client) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(f(&runiam_emulator::client::Client::new(&emu.url)))
}

/// The live allow policy of a service (`projects/P/locations/R/services/S`),
/// read through the 429s and 503s the emulator injects.
pub fn policy(emu: &Emulator, service: &str) -> serde_json::Value {
    use runiam_emulator::client::ClientError;
    client(emu, async |c| {
        for _ in 0..20 {
            match c.policy(service).await {
                Err(ClientError::Status { status: 429 | 503, .. }) => continue,
                read => return read.unwrap(),
            }
        }
        panic!("{service}: the emulator kept failing the read");
    })
}

/// Replaces a service's policy (no etag: an unconditional overwrite).
pub fn put_policy(emu: &Emulator, service: &str, p: serde_json::Value) -> serde_json::Value {
    client(emu, async |c| c.put_policy(service, p).await.unwrap())
}

/// An ID token minted by the emulator's knob (`email`, `audience`, any other claim it takes).
pub fn mint(emu: &Emulator, claims: serde_json::Value) -> String {
    client(emu, async |c| c.mint(claims).await.unwrap())
}

/// Changes the emulator's fault settings.
pub fn faults(emu: &Emulator, changes: serde_json::Value) {
    client(emu, async |c| c.faults(changes).await.unwrap());
}

/// Policies, etags and logs back to the world file's.
pub fn reset(emu: &Emulator) {
    client(emu, async |c| c.reset().await.unwrap());
}
