//! Test harness: a real control-plane server on a loopback port, with captured logs.
use std::{
    io::Write,
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex, OnceLock},
};

use nexbii_controlplane::{
    crypto::Keys,
    provisioning::manifests,
    server,
    state::{AppState, Settings, SharedState},
    store::{self, mongo::MongoStore, DynStore},
};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

pub mod env;

/// Where the real servers live (overridable for other machines). Each fails the calling test
/// at once, with one line naming the command that starts the server, when nothing listens there.
#[track_caller]
pub fn postgres_url() -> String {
    let url = std::env::var("NEXBII_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    env::POSTGRES.require_url(&url, 5432);
    url
}
#[track_caller]
pub fn mariadb_url() -> String {
    let url = std::env::var("NEXBII_TEST_MARIADB")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    env::MARIADB.require_url(&url, 3306);
    url
}
#[track_caller]
pub fn mongo_url() -> String {
    let url = std::env::var("NEXBII_TEST_MONGO")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/?directConnection=true".into());
    env::MONGO.require_url(&url, 27017);
    url
}

/// The S3-compatible server's endpoint (`NEXBII_TEST_S3`; default moto from `tests/env/s3.sh`).
#[track_caller]
pub fn s3_url() -> String {
    let url = std::env::var("NEXBII_TEST_S3").unwrap_or_else(|_| "http://127.0.0.1:9300".into());
    env::S3.require_url(&url, 80);
    url
}

/// The OpenID test provider's issuer (`NEXBII_TEST_OIDC`; default `tests/env/oidc.sh`'s).
#[track_caller]
pub fn oidc_url() -> String {
    let url = std::env::var("NEXBII_TEST_OIDC").unwrap_or_else(|_| "http://127.0.0.1:9400".into());
    env::OIDC.require_url(&url, 80);
    url
}

/// An administrative connection for fixtures (statement logging off: fixture SQL may carry
/// passwords under test, and the log capture must only see what the server logs).
pub async fn admin_postgres() -> sqlx::PgConnection {
    use sqlx::ConnectOptions;
    let url = postgres_url();
    let opts: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    opts.disable_statement_logging()
        .connect()
        .await
        .unwrap_or_else(|e| env::POSTGRES.missing(&url, e))
}

/// An administrative MariaDB connection for fixtures (see [`admin_postgres`]).
pub async fn admin_mariadb() -> sqlx::MySqlConnection {
    use sqlx::ConnectOptions;
    let url = mariadb_url();
    let opts: sqlx::mysql::MySqlConnectOptions = url.parse().unwrap();
    opts.disable_statement_logging()
        .connect()
        .await
        .unwrap_or_else(|e| env::MARIADB.missing(&url, e))
}

#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: OnceLock<LogBuffer> = OnceLock::new();

/// Every log line of every server in this test binary, at debug level.
pub fn logs() -> String {
    let buf = LOGS.get_or_init(init_logs);
    String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned()
}

fn init_logs() -> LogBuffer {
    let buf = LogBuffer::default();
    let writer = buf.clone();
    let _ = tracing_subscriber::fmt()
        .with_env_filter("debug,hyper=info,h2=info,rustls=info,mongodb=info,sqlx=debug")
        .json()
        .with_writer(move || writer.clone())
        .try_init();
    buf
}

pub struct TestServer {
    pub base: String,
    pub state: SharedState,
    pub http: Client,
    _dir: tempfile::TempDir,
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{:08x}", rand::random::<u32>())
}

impl TestServer {
    /// A server on the embedded store (in a temp dir).
    pub async fn start() -> Self {
        Self::start_with_operator_token(None).await
    }

    /// A server whose provisioning API accepts `token`.
    pub async fn start_with_operator_token(token: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = store::open(dir.path().join("nexbii.db").to_str().unwrap(), "unused")
            .await
            .unwrap();
        let settings = Settings {
            sqlite_root: dir.path().join("sources"),
            operator_token: token.map(str::to_string),
            backup_dir: dir.path().join("backups"),
            ..Default::default()
        };
        Self::with_store(store, dir, settings).await
    }

    pub async fn with_store(store: DynStore, dir: tempfile::TempDir, settings: Settings) -> Self {
        Self::with_keys(store, dir, settings, Keys::random()).await
    }

    /// [`TestServer::with_store`] with the given keys (another instance of the same tenants:
    /// a recovery target).
    pub async fn with_keys(
        store: DynStore,
        dir: tempfile::TempDir,
        mut settings: Settings,
        keys: Keys,
    ) -> Self {
        LOGS.get_or_init(init_logs);
        // The default backup folder (and the change journal in it) is relative to the working
        // directory: a test that does not choose one gets one in its own temporary folder.
        if settings.backup_dir == Settings::default().backup_dir {
            settings.backup_dir = dir.path().join("backups");
        }
        let state = AppState::new(store, keys, settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(server::serve(listener, state.clone()));
        Self {
            base: format!("http://{addr}"),
            state,
            http: Client::new(),
            _dir: dir,
        }
    }

    /// The folder the server keeps its files in (the embedded store is `nexbii.db` there).
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// A server on the MongoDB-wire server, in a database of its own named `prefix` + random;
    /// `tweak` adjusts the settings (which start as [`TestServer::start`]'s).
    pub async fn on_mongo(
        prefix: &str,
        tweak: impl FnOnce(&mut Settings),
    ) -> (Self, Arc<MongoStore>, String) {
        let db = unique(prefix);
        let store = Arc::new(
            MongoStore::connect(&mongo_url(), &db)
                .await
                .unwrap_or_else(|e| env::MONGO.missing(&mongo_url(), e)),
        );
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            sqlite_root: dir.path().join("sources"),
            backup_dir: dir.path().join("backups"),
            ..Default::default()
        };
        tweak(&mut settings);
        let server = Self::with_store(store.clone() as DynStore, dir, settings).await;
        (server, store, db)
    }

    /// Another instance over this one's store, keys and settings: a restart, or a replica.
    pub async fn another_instance(&self) -> TestServer {
        let path = self._dir.path().join("nexbii.db");
        let store = store::open(path.to_str().unwrap(), "unused").await.unwrap();
        let state = AppState::new(store, self.state.keys.clone(), self.state.settings.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(server::serve(listener, state.clone()));
        Self {
            base: format!("http://{addr}"),
            state,
            http: Client::new(),
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Applies a folder of manifests written from `(file, yaml)` pairs.
    pub async fn apply_yaml(&self, dir: &Path, files: &[(&str, &str)]) -> manifests::Applied {
        for (name, yaml) in files {
            std::fs::write(dir.join(name), yaml).unwrap();
        }
        manifests::load_and_apply(&self.state, dir).await.unwrap()
    }

    /// Declares a tenant with an admin whose password is `password`.
    pub async fn tenant(&self, name: &str, password: &str) -> Client2 {
        self.tenant_with(name, password, &[]).await
    }

    /// Declares a tenant (admin password `password`) together with the manifests `extra`
    /// (`(file, yaml)`, e.g. its GovernancePolicy), and logs its admin in.
    pub async fn tenant_with(&self, name: &str, password: &str, extra: &[(&str, &str)]) -> Client2 {
        let dir = tempfile::tempdir().unwrap();
        let yaml = tenant_yaml(name, password);
        let mut files = vec![("tenant.yaml", yaml.as_str())];
        files.extend_from_slice(extra);
        let applied = self.apply_yaml(dir.path(), &files).await;
        assert!(applied.problems.is_empty(), "{:?}", applied.problems);
        self.login(name, "admin", password).await
    }

    /// Creates a user through `admin` (`fields`: username, role and any other field of the
    /// users API) with the password [`USER_PASSWORD`], and logs that user in.
    pub async fn user(&self, admin: &Client2, tenant: &str, fields: Value) -> Client2 {
        let mut body = fields;
        body["password"] = json!(USER_PASSWORD);
        let (s, b) = admin.post("/api/v1/users", body.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let name = body["username"].as_str().expect("fields name the username");
        self.login(tenant, name, USER_PASSWORD).await
    }

    /// A tenant whose admin (password `password`) has the sample sales database as the
    /// API-created SQLite source `sales`.
    pub async fn tenant_with_sales(&self, tenant: &str, password: &str) -> Client2 {
        let admin = self.tenant(tenant, password).await;
        self.add_sales(&admin, &format!("{tenant}.db")).await;
        admin
    }

    /// Adds the sample sales database (generated once as `file` under the SQLite root) as the
    /// API-created source `sales`.
    pub async fn add_sales(&self, admin: &Client2, file: &str) {
        let root = &self.state.settings.sqlite_root;
        std::fs::create_dir_all(root).unwrap();
        if !root.join(file).exists() {
            nexbii_controlplane::sample_data::generate(&root.join(file))
                .await
                .unwrap();
        }
        let (s, b) = admin
            .post(
                "/api/v1/datasources",
                json!({"name": "sales", "spec": {"type": "sqlite", "path": file}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }

    pub async fn login(&self, tenant: &str, user: &str, password: &str) -> Client2 {
        let (status, body) = self
            .call(
                None,
                Method::POST,
                "/api/v1/auth/login",
                Some(json!({"tenant": tenant, "username": user, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login failed: {body}");
        Client2 {
            base: self.base.clone(),
            http: self.http.clone(),
            token: body["token"].as_str().unwrap().to_string(),
        }
    }

    pub async fn call(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        send(&self.http, &self.base, token, method, path, body).await
    }

    pub async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }
}

/// The password [`TestServer::user`] gives the users it creates.
pub const USER_PASSWORD: &str = "user-password-123";

pub fn tenant_yaml(name: &str, password: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: {name}-admin
stringData:
  password: "{password}"
---
apiVersion: nexbii.io/v1alpha1
kind: Tenant
metadata:
  name: {name}
spec:
  displayName: Tenant {name}
  limits:
    rowLimit: 1000
    queryTimeoutSeconds: 20
  auth:
    maxFailedLogins: 3
    passwordMinLength: 12
  bootstrapAdmins:
    - username: admin
      passwordSecretRef:
        name: {name}-admin
        key: password
"#
    )
}

async fn send(
    http: &Client,
    base: &str,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = http.request(method, format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    if !status.is_success() && !text.is_empty() {
        assert_eq!(
            ctype, "application/problem+json",
            "errors are problem+json: {text}"
        );
    }
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

/// An authenticated API client for one user.
#[derive(Clone)]
pub struct Client2 {
    pub base: String,
    pub http: Client,
    pub token: String,
}

impl Client2 {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        send(
            &self.http,
            &self.base,
            Some(&self.token),
            method,
            path,
            body,
        )
        .await
    }
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }
    pub async fn run(&self, source: &str, sql: &str, params: Value) -> (StatusCode, Value) {
        self.post(
            "/api/v1/queries/run",
            json!({"dataSource": source, "sql": sql, "params": params, "noCache": true}),
        )
        .await
    }
}
