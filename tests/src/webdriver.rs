//! A browser for the browser tests: Debian's `chromedriver` driving headless `chromium`, spoken
//! to in W3C WebDriver over reqwest. The tests need a dozen commands, each one JSON request, so
//! this small client stands in for fantoccini or thirtyfour and the HTTP stacks they bring.
//!
//! [`Chrome::start`] finds both programs on `PATH`. Without them it says so and the test skips,
//! so `cargo test` passes on a fresh machine; with `CI=true` it fails the test instead.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

use base64::Engine;
use serde_json::{Value, json};

use crate::eventually;

/// The key under which WebDriver's JSON names an element.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromium session of its own chromedriver: both end when it is dropped.
pub struct Chrome {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`
    session_url: String,
    port: u16,
    session: String,
    driver: Child,
    /// The test's name, which starts its screenshots' names.
    test: String,
    screenshots: AtomicU32,
    downloads: tempfile::TempDir,
}

/// An element of the page it was found on.
pub struct Element<'a> {
    chrome: &'a Chrome,
    id: String,
}

/// `name`'s path in a directory of `PATH`, if any.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A port nobody listened on a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Where the screenshots go: `browser-screenshots` in cargo's target directory.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("browser-screenshots")
}

impl Chrome {
    /// A fresh headless chromium for `test`, or `None` (after saying so once) when chromedriver
    /// is not installed; under `CI=true` its absence fails the test.
    pub async fn start(test: &str) -> Option<Chrome> {
        let Some(driver) = on_path("chromedriver") else {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "chromedriver is not on PATH and CI=true: apt-get install chromium chromium-driver"
                );
            }
            static SAID: Once = Once::new();
            // Straight to stderr: the test harness captures `eprintln!` of passing tests.
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "skipping browser tests: chromedriver not found (apt-get install chromium chromium-driver)"
                );
            });
            return None;
        };
        let port = free_port();
        // Chromium's language, and so the order a date field takes its digits in, is the
        // environment's: month first, whatever the machine's locale.
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .env("LANGUAGE", "en_US")
            .env("LANG", "en_US.UTF-8")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Made before its session, so that a failure below still stops chromedriver on drop.
        let mut chrome = Chrome {
            http: reqwest::Client::new(),
            session_url: String::new(),
            port,
            session: String::new(),
            driver: child,
            test: test.to_owned(),
            screenshots: AtomicU32::new(0),
            downloads: tempfile::tempdir().unwrap(),
        };
        chrome.wait_for_driver().await;
        chrome.new_session().await;
        chrome.clear_old_screenshots();
        Some(chrome)
    }

    /// Polls chromedriver's `/status` until it says it is ready.
    async fn wait_for_driver(&mut self) {
        let status = format!("http://127.0.0.1:{}/status", self.port);
        let (http, status, driver) = (&self.http, &status, &mut self.driver);
        eventually("chromedriver to answer", || {
            if let Some(exit) = driver.try_wait().unwrap() {
                panic!("chromedriver exited ({exit}) before answering");
            }
            async move {
                let answer = http.get(status).send().await.ok()?;
                let body: Value = answer.json().await.ok()?;
                (body["value"]["ready"] == true).then_some(())
            }
        })
        .await;
    }

    async fn new_session(&mut self) {
        let mut options = json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"],
            "prefs": {
                "download.default_directory": self.downloads.path(),
                "download.prompt_for_download": false,
            },
        });
        if let Some(browser) = on_path("chromium") {
            options["binary"] = json!(browser);
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options,
        }}});
        let url = format!("http://127.0.0.1:{}/session", self.port);
        let created = self.http.post(&url).json(&capabilities).send().await;
        let body: Value = created.unwrap().json().await.unwrap();
        let Some(session) = body["value"]["sessionId"].as_str() else {
            panic!("chromedriver made no session: {body}");
        };
        self.session = session.to_owned();
        self.session_url = format!("{url}/{session}");
    }

    /// Removes this test's screenshots of an earlier run, so that all those left are this run's.
    fn clear_old_screenshots(&self) {
        let Ok(entries) = std::fs::read_dir(screenshot_dir()) else {
            return;
        };
        let prefix = format!("{}-", self.test);
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// One WebDriver command on this session; its `value`, or WebDriver's error and message.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.session_url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.map_err(|error| error.to_string())?;
        let ok = answer.status().is_success();
        let mut body: Value = answer.json().await.map_err(|error| error.to_string())?;
        let value = body["value"].take();
        if ok {
            Ok(value)
        } else {
            Err(format!("{}: {}", value["error"], value["message"]))
        }
    }

    async fn get(&self, path: &str) -> Value {
        let value = self.call(reqwest::Method::GET, path, None).await;
        value.unwrap_or_else(|error| panic!("GET {path}: {error}"))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let value = self.call(reqwest::Method::POST, path, Some(body)).await;
        value.unwrap_or_else(|error| panic!("POST {path}: {error}"))
    }

    /// Opens `url` and waits for it to load.
    pub async fn open(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    pub async fn current_url(&self) -> String {
        self.get("/url").await.as_str().unwrap().to_owned()
    }

    /// The first element matching the CSS `selector`, once there is one.
    pub async fn find(&self, selector: &str) -> Element<'_> {
        let query = json!({"using": "css selector", "value": selector});
        eventually(&format!("an element `{selector}`"), || async {
            let found = self.call(reqwest::Method::POST, "/element", Some(query.clone()));
            let id = found.await.ok()?[ELEMENT_KEY].as_str()?.to_owned();
            Some(Element { chrome: self, id })
        })
        .await
    }

    /// How many elements match `selector` now.
    pub async fn count(&self, selector: &str) -> usize {
        let query = json!({"using": "css selector", "value": selector});
        let found = self.post("/elements", query).await;
        found.as_array().map_or(0, Vec::len)
    }

    /// Runs `script` (a function body; `arguments` are none) in the page, returning its value.
    /// WebDriver's scripts run whatever the page's Content-Security-Policy says.
    pub async fn execute(&self, script: &str) -> Value {
        let body = json!({"script": script, "args": []});
        self.post("/execute/sync", body).await
    }

    /// Resizes the window to `width` × `height` CSS pixels (a phone is 390 × 844).
    pub async fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"width": width, "height": height}))
            .await;
    }

    /// The value of the browser's cookie `name`, if it has one.
    pub async fn cookie(&self, name: &str) -> Option<String> {
        let path = format!("/cookie/{name}");
        let cookie = self.call(reqwest::Method::GET, &path, None).await.ok()?;
        Some(cookie["value"].as_str()?.to_owned())
    }

    /// Saves what the window shows as `<test>-<nn>-<step>.png` in [`screenshot_dir`].
    pub async fn screenshot(&self, step: &str) {
        let encoded = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap())
            .unwrap();
        let number = self.screenshots.fetch_add(1, Ordering::Relaxed) + 1;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}-{number:02}-{step}.png", self.test));
        std::fs::write(&path, png).unwrap();
    }

    /// Where this browser saves what it downloads.
    pub fn downloads(&self) -> &Path {
        self.downloads.path()
    }
}

impl Drop for Chrome {
    /// Ends the session, which closes chromium, then stops chromedriver. A drop cannot await,
    /// so the DELETE is written by hand on a plain socket.
    fn drop(&mut self) {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let _ = write!(
                stream,
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
                self.session, self.port
            );
            // chromedriver answers once chromium has quit, and keeps the connection open: the
            // answer's first byte is all there is to wait for.
            let _ = stream.read(&mut [0; 1]);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Element<'_> {
    fn path(&self, command: &str) -> String {
        format!("/element/{}/{command}", self.id)
    }

    pub async fn click(&self) {
        self.chrome.post(&self.path("click"), json!({})).await;
    }

    /// Types `text` after what the field holds.
    pub async fn send_keys(&self, text: &str) {
        let body = json!({"text": text});
        self.chrome.post(&self.path("value"), body).await;
    }

    /// The text the element shows.
    pub async fn text(&self) -> String {
        let text = self.chrome.get(&self.path("text")).await;
        text.as_str().unwrap().to_owned()
    }
}
