//! The servers the tests need, and one clear line when one is missing.
//!
//! `bash tests/run.sh` starts them all (and stops what it started); each also starts on its own
//! with the script named in its [`Service`]. A test that needs a server calls the matching URL
//! helper ([`crate::postgres_url`], [`crate::mariadb_url`], [`crate::mongo_url`], [`crate::s3_url`]) or
//! [`kubeconfig`], which fail fast — before any driver waits for a timeout — with a single line
//! naming the command that starts the server.
use std::{
    fmt::Display,
    net::{SocketAddr, TcpStream, ToSocketAddrs},
    time::Duration,
};

/// The one command that sets up everything and runs every check.
pub const RUN_ALL: &str = "bash tests/run.sh";

/// A server the tests talk to, and the project command that starts it.
pub struct Service {
    pub name: &'static str,
    pub start: &'static str,
}

pub const POSTGRES: Service = Service {
    name: "PostgreSQL",
    start: "bash tests/env/services.sh start postgresql",
};
pub const MARIADB: Service = Service {
    name: "MariaDB",
    start: "bash tests/env/services.sh start mariadb",
};
pub const MONGO: Service = Service {
    name: "MongoDB-wire test server",
    start: "bash tests/env/mongo.sh start",
};
pub const S3: Service = Service {
    name: "S3-compatible test server (moto)",
    start: "bash tests/env/s3.sh start",
};
pub const OIDC: Service = Service {
    name: "OpenID test provider (oidc-provider)",
    start: "bash tests/env/oidc.sh start",
};
pub const KUBE: Service = Service {
    name: "kube-apiserver test cluster",
    start: "bash tests/env/kube-cluster.sh start",
};

pub const HELM: Service = Service {
    name: "Helm SDK (PyPI helm-python-sdk in a venv)",
    start: "bash tests/env/helm.sh install",
};

/// The repository's root (the tests crate is one level below it).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The python of the venv `tests/env/helm.sh` installs (`NEXBII_HELM_PYTHON` overrides it),
/// after checking that it imports the SDK.
#[track_caller]
pub fn helm_python() -> String {
    let python = std::env::var("NEXBII_HELM_PYTHON").unwrap_or_else(|_| {
        let out = std::process::Command::new("bash")
            .arg(repo_root().join("tests/env/helm.sh"))
            .arg("python")
            .output()
            .unwrap_or_else(|e| HELM.missing("tests/env/helm.sh", e));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    });
    let ok = std::process::Command::new(&python)
        .args(["-c", "import helm_python"])
        .output()
        .map(|o| o.status.success());
    match ok {
        Ok(true) => python,
        Ok(false) => HELM.missing(&python, "cannot import helm_python"),
        Err(e) => HELM.missing(&python, e),
    }
}

/// The default kubeconfig written by `tests/env/kube-cluster.sh` (with the default `KT_DIR`).
pub const DEFAULT_KUBECONFIG: &str = "/tmp/kube-test/kubeconfig";

impl Service {
    /// The one-line failure: what is missing where, and the command that starts it.
    pub fn message(&self, at: &str, why: impl Display) -> String {
        let why = why.to_string().replace(['\n', '\r'], " ");
        format!(
            "{} not reachable at {at} ({why}): start it with '{}' (or run the whole suite with '{RUN_ALL}')",
            self.name, self.start
        )
    }

    /// Fails the calling test with [`Service::message`].
    #[track_caller]
    pub fn missing(&self, at: &str, why: impl Display) -> ! {
        panic!("{}", self.message(at, why))
    }

    /// Fails the calling test at once when nothing accepts TCP connections at the host and port
    /// of `url` (`default_port` when the URL names none). URLs this cannot read (several hosts,
    /// Unix sockets) are left to the driver.
    #[track_caller]
    pub fn require_url(&self, url: &str, default_port: u16) {
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return;
        };
        let Some(host) = parsed
            .host_str()
            .filter(|h| !h.is_empty() && !h.contains(','))
        else {
            return;
        };
        let port = parsed.port().unwrap_or(default_port);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Err(why) = probe(host, port) {
            self.missing(&format!("{host}:{port}"), why);
        }
    }
}

/// Connects once over TCP (3 s at most per address).
fn probe(host: &str, port: u16) -> Result<(), String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = format!("{host} has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// The test cluster's kubeconfig (`NEXBII_TEST_KUBECONFIG`, default [`DEFAULT_KUBECONFIG`]),
/// after checking that it exists and that its apiserver accepts connections.
#[track_caller]
pub fn kubeconfig() -> String {
    let path =
        std::env::var("NEXBII_TEST_KUBECONFIG").unwrap_or_else(|_| DEFAULT_KUBECONFIG.into());
    let kc = match kube::config::Kubeconfig::read_from(&path) {
        Ok(kc) => kc,
        Err(e) => KUBE.missing(&path, format!("no usable kubeconfig: {e}")),
    };
    let current = kc.current_context.clone().unwrap_or_default();
    let cluster_name = kc
        .contexts
        .iter()
        .find(|c| c.name == current)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone());
    let server = kc
        .clusters
        .iter()
        .find(|c| Some(&c.name) == cluster_name.as_ref())
        .or(kc.clusters.first())
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone());
    match server {
        Some(server) => KUBE.require_url(&server, 443),
        None => KUBE.missing(&path, "the kubeconfig names no server"),
    }
    path
}
