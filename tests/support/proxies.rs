//! Real proxy servers, started per test on 127.0.0.1 from the Debian packages that
//! `scripts/install-test-deps.sh` installs (see `docs/test-proxies.md` for the recipes):
//! tinyproxy and squid (http, https), danted (socks4, socks5), microsocks (socks5/5h) and
//! sshd + `ssh -D` (socks4/4a). Each keeps a log that proves what it relayed.

use feedhandler::sim::cert::TestCa;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The system user danted authenticates SOCKS5 user/password against.
pub const DANTE_USER: (&str, &str) = ("fhproxy", "fhproxy-pass");

pub struct Proxy {
    pub port: u16,
    pub dir: tempfile::TempDir,
    log: PathBuf,
    children: Vec<Child>,
    squid_name: Option<String>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(name) = &self.squid_name {
            for part in ["metadata", "queues", "readers"] {
                let _ = std::fs::remove_file(format!("/dev/shm/{name}-cf__{part}.shm"));
            }
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[allow(clippy::disallowed_methods)] // readiness probe of a local test server
pub async fn wait_port(port: u16, what: &str, log: &Path) {
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{what} did not listen on {port}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn spawn(cmd: &mut Command, stderr_to: &Path) -> Child {
    let err = std::fs::File::create(stderr_to).unwrap();
    let program = format!("{:?}", cmd.get_program());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("{program} could not start ({e}); run scripts/install-test-deps.sh"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Starts a proxy until one keeps running: a port picked by `free_port` can be taken by
/// another test before the proxy binds it, and then the proxy exits while the readiness
/// probe is answered by someone else.
async fn until_alive<F: std::future::Future<Output = Proxy>>(mut start: impl FnMut() -> F) -> Proxy {
    for _ in 0..3 {
        let mut p = start().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        if p.children.iter_mut().all(|c| matches!(c.try_wait(), Ok(None))) {
            return p;
        }
    }
    panic!("proxy exited right after starting three times; see its log");
}

impl Proxy {
    fn new(log_name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join(log_name);
        Self {
            port: free_port(),
            dir,
            log,
            children: Vec::new(),
            squid_name: None,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `scheme://[user:pass@]127.0.0.1:port`
    pub fn url(&self, scheme: &str, creds: Option<(&str, &str)>) -> String {
        match creds {
            Some((u, p)) => format!("{scheme}://{u}:{p}@127.0.0.1:{}", self.port),
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }

    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// Waits (up to 5 s: some servers log when a tunnel closes) for `needle` in the log.
    pub async fn wait_log(&self, needle: &str) {
        for _ in 0..250 {
            if self.log().contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("proxy log has no {needle:?}:\n{}", self.log());
    }

    /// The proxy's (first) process id, for signals (SIGSTOP freezes it).
    pub fn pid(&self) -> i32 {
        self.children[0].id() as i32
    }

    /// Kills the proxy's processes (SIGKILL): every connection through it drops.
    pub fn kill(&mut self) {
        for c in self.children.iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }

    /// Starts microsocks again on the same port (after [`Self::kill`]).
    pub async fn restart_microsocks(&mut self) {
        let mut cmd = Command::new("microsocks");
        cmd.args(["-i", "127.0.0.1", "-p", &self.port.to_string()]);
        let child = spawn(&mut cmd, &self.log);
        self.children.push(child);
        wait_port(self.port, "microsocks", &self.log).await;
    }

    /// HTTP CONNECT proxy (no 407 for wrong credentials: this tinyproxy answers 401).
    pub async fn tinyproxy(auth: Option<(&str, &str)>) -> Self {
        until_alive(|| Self::tinyproxy_once(auth)).await
    }

    async fn tinyproxy_once(auth: Option<(&str, &str)>) -> Self {
        let p = Self::new("tinyproxy.log");
        std::fs::write(
            p.path("filter"),
            "^127\\.[0-9]+\\.[0-9]+\\.[0-9]+$\n^localhost$\n",
        )
        .unwrap();
        let mut conf = format!(
            "Port {}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Connect\nMaxClients 50\nAllow 127.0.0.1\n\
             Filter \"{}\"\nFilterType ere\nFilterDefaultDeny Yes\nFilterURLs Off\nDisableViaHeader Yes\n",
            p.port,
            p.log.display(),
            p.path("filter").display()
        );
        if let Some((u, pw)) = auth {
            conf.push_str(&format!("BasicAuth {u} {pw}\n"));
        }
        std::fs::write(p.path("tinyproxy.conf"), conf).unwrap();
        let mut p = p;
        let child = spawn(
            Command::new("tinyproxy")
                .arg("-d")
                .arg("-c")
                .arg(p.path("tinyproxy.conf")),
            &p.path("stderr"),
        );
        p.children.push(child);
        wait_port(p.port, "tinyproxy", &p.path("stderr")).await;
        p
    }

    /// squid: plain HTTP proxy, or an HTTPS proxy (`tls`) presenting the test CA's
    /// certificate. Logs a tunnel when it closes.
    pub async fn squid(auth: Option<(&str, &str)>, tls: Option<&TestCa>) -> Self {
        until_alive(|| Self::squid_once(auth, tls)).await
    }

    async fn squid_once(auth: Option<(&str, &str)>, tls: Option<&TestCa>) -> Self {
        let mut p = Self::new("access.log");
        let name = format!("fh{}", p.port);
        let listen = match tls {
            Some(ca) => {
                std::fs::copy(&ca.cert_pem, p.path("cert.pem")).unwrap();
                std::fs::copy(&ca.key_pem, p.path("key.pem")).unwrap();
                format!(
                    "https_port 127.0.0.1:{} tls-cert={} tls-key={}",
                    p.port,
                    p.path("cert.pem").display(),
                    p.path("key.pem").display()
                )
            }
            None => format!("http_port 127.0.0.1:{}", p.port),
        };
        let access = match auth {
            Some((u, pw)) => {
                let hash = run(Command::new("openssl").args(["passwd", "-apr1", pw]));
                std::fs::write(p.path("passwd"), format!("{u}:{}", hash.trim())).unwrap();
                format!(
                    "auth_param basic program /usr/lib/squid/basic_ncsa_auth {}\nauth_param basic realm feedhandler-test\n\
                     acl authed proxy_auth REQUIRED\nhttp_access allow authed\nhttp_access deny all\n",
                    p.path("passwd").display()
                )
            }
            None => "http_access allow all\n".to_owned(),
        };
        let d = p.dir.path().display();
        let conf = format!(
            "{listen}\npid_filename none\ncache deny all\ncache_mem 8 MB\nmemory_cache_shared off\npinger_enable off\n\
             access_log stdio:{d}/access.log squid\ncache_log {d}/cache.log\ncache_store_log none\nlogfile_rotate 0\n\
             buffered_logs off\ncoredump_dir {d}\nshutdown_lifetime 0 seconds\ndns_nameservers 127.0.0.1\nhosts_file /etc/hosts\n\
             acl loopback_dst dst 127.0.0.0/8\nhttp_access deny !loopback_dst\n{access}"
        );
        std::fs::write(p.path("squid.conf"), conf).unwrap();
        run(Command::new("chown")
            .args(["-R", "proxy:proxy"])
            .arg(p.dir.path()));
        let child = spawn(
            Command::new("squid")
                .args(["-N", "-n", &name, "-f"])
                .arg(p.path("squid.conf")),
            &p.path("stderr"),
        );
        p.children.push(child);
        p.squid_name = Some(name);
        wait_port(p.port, "squid", &p.path("cache.log")).await;
        p
    }

    /// danted: SOCKS4 and SOCKS5; with `auth`, SOCKS5 user/password ([`DANTE_USER`]).
    pub async fn danted(auth: bool) -> Self {
        until_alive(|| Self::danted_once(auth)).await
    }

    async fn danted_once(auth: bool) -> Self {
        let mut p = Self::new("danted.log");
        let method = if auth { "username" } else { "none" };
        let conf = format!(
            "logoutput: {}\nerrorlog: stderr\ninternal: 127.0.0.1 port = {}\nexternal: 127.0.0.1\nclientmethod: none\n\
             socksmethod: {method}\nuser.privileged: root\nuser.unprivileged: nobody\n\
             client pass {{\n from: 127.0.0.0/8 to: 0.0.0.0/0\n log: error\n}}\n\
             socks pass {{\n from: 127.0.0.0/8 to: 127.0.0.0/8\n command: connect\n log: error connect disconnect\n}}\n\
             socks block {{\n from: 0.0.0.0/0 to: 0.0.0.0/0\n log: error connect\n}}\n",
            p.log.display(),
            p.port
        );
        std::fs::write(p.path("danted.conf"), conf).unwrap();
        let child = spawn(
            Command::new("danted")
                .arg("-f")
                .arg(p.path("danted.conf"))
                .arg("-p")
                .arg(p.path("danted.pid"))
                .args(["-N", "1"]),
            &p.path("stderr"),
        );
        p.children.push(child);
        wait_port(p.port, "danted", &p.path("stderr")).await;
        p
    }

    /// microsocks: SOCKS5; logs the target exactly as the client sent it (name or address).
    pub async fn microsocks(auth: Option<(&str, &str)>) -> Self {
        until_alive(|| Self::microsocks_once(auth)).await
    }

    async fn microsocks_once(auth: Option<(&str, &str)>) -> Self {
        let mut p = Self::new("stderr");
        let mut cmd = Command::new("microsocks");
        cmd.args(["-i", "127.0.0.1", "-p", &p.port.to_string()]);
        if let Some((u, pw)) = auth {
            cmd.args(["-u", u, "-P", pw]);
        }
        let child = spawn(&mut cmd, &p.log);
        p.children.push(child);
        wait_port(p.port, "microsocks", &p.log).await;
        p
    }

    /// OpenSSH dynamic forwarding (SOCKS4, SOCKS4a, SOCKS5) through a private sshd on
    /// loopback; sshd logs each target as the client named it.
    pub async fn ssh_socks() -> Self {
        until_alive(Self::ssh_socks_once).await
    }

    async fn ssh_socks_once() -> Self {
        let mut p = Self::new("sshd.log");
        let ssh_port = free_port();
        std::fs::create_dir_all("/run/sshd").unwrap();
        for key in ["host_key", "client_key"] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(p.path(key)));
        }
        std::fs::copy(p.path("client_key.pub"), p.path("authorized_keys")).unwrap();
        let host_pub = std::fs::read_to_string(p.path("host_key.pub")).unwrap();
        let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        std::fs::write(
            p.path("known_hosts"),
            format!("[127.0.0.1]:{ssh_port} {}\n", host_pub.join(" ")),
        )
        .unwrap();
        let conf = format!(
            "Port {ssh_port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\nAuthorizedKeysFile {}\n\
             PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
             PermitRootLogin prohibit-password\nStrictModes no\nAllowTcpForwarding local\nPermitOpen 127.0.0.1:* localhost:*\n\
             AllowAgentForwarding no\nX11Forwarding no\nPermitTTY no\nLogLevel DEBUG1\n",
            p.path("host_key").display(),
            p.path("authorized_keys").display()
        );
        std::fs::write(p.path("sshd_config"), conf).unwrap();
        let sshd = spawn(
            Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(p.path("sshd_config")),
            &p.log,
        );
        p.children.push(sshd);
        wait_port(ssh_port, "sshd", &p.log).await;
        let user = run(Command::new("id").arg("-un"));
        let ssh = spawn(
            Command::new("ssh")
                .args([
                    "-F",
                    "none",
                    "-N",
                    "-D",
                    &format!("127.0.0.1:{}", p.port),
                    "-p",
                    &ssh_port.to_string(),
                    "-i",
                ])
                .arg(p.path("client_key"))
                .args([
                    "-o",
                    "IdentitiesOnly=yes",
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "StrictHostKeyChecking=yes",
                ])
                .arg("-o")
                .arg(format!("UserKnownHostsFile={}", p.path("known_hosts").display()))
                .args([
                    "-o",
                    "ExitOnForwardFailure=yes",
                    &format!("{}@127.0.0.1", user.trim()),
                ]),
            &p.path("ssh.log"),
        );
        p.children.push(ssh);
        wait_port(p.port, "ssh -D", &p.path("ssh.log")).await;
        p
    }
}
