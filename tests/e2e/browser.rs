//! A browser for the dashboard's tests: Debian's headless Chromium driven through
//! chromedriver (WebDriver, the `thirtyfour` crate), each session with a fresh profile.
//!
//! Without `/usr/bin/chromium` and `/usr/bin/chromedriver` a test that wants one fails (CI
//! installs them); `LOOM_SKIP_BROWSER=1` skips it on a machine that cannot have a browser.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use thirtyfour::prelude::*;

pub const WAIT: Duration = Duration::from_secs(60);
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether to run: the browser is there, or skipping was asked for; otherwise a clear failure.
pub fn browser_wanted() -> bool {
    if std::env::var("LOOM_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("LOOM_SKIP_BROWSER=1: the browser tests are skipped");
        return false;
    }
    for bin in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: install it with `apt-get install -y chromium chromium-driver` \
             (or set LOOM_SKIP_BROWSER=1 to skip the browser tests)"
        );
    }
    true
}

pub fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// chromedriver on a free port and a browser session in it; both end when dropped.
pub struct Browser {
    driver: Option<WebDriver>,
    chromedriver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver: None,
            chromedriver,
            _profile: profile,
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < WAIT, "chromedriver never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM).unwrap();
        // Without the networking switches Chromium waits for the network on a closed one.
        for arg in [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ] {
            caps.add_arg(arg).unwrap();
        }
        caps.add_arg(&format!(
            "--user-data-dir={}",
            browser._profile.path().display()
        ))
        .unwrap();
        let driver = WebDriver::new(format!("http://127.0.0.1:{port}"), caps)
            .await
            .unwrap();
        browser.driver = Some(driver);
        browser
    }

    pub fn d(&self) -> &WebDriver {
        self.driver.as_ref().unwrap()
    }

    pub async fn shot(&self, name: &str) {
        let path = screenshots().join(format!("{name}.png"));
        self.d().screenshot(&path).await.unwrap();
    }

    /// The `data-seq` of the timeline's tick of step `step` (on a run page).
    pub async fn seq_of_step(&self, step: &str) -> u64 {
        let xpath =
            format!("//li[contains(@class,'tick')][.//span[@class='step' and text()='{step}']]");
        let li = self.d().find(By::XPath(xpath)).await.unwrap();
        li.attr("data-seq").await.unwrap().unwrap().parse().unwrap()
    }

    /// The text of the first element matching `css`, once it contains `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < WAIT {
            if let Ok(els) = self.d().find_all(By::Css(css)).await {
                for e in els {
                    if let Ok(t) = e.text().await {
                        // Rendered text: CSS may have upper-cased a label.
                        if t.contains(needle) || t.to_lowercase().contains(&needle.to_lowercase()) {
                            return t;
                        }
                        last = t;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.d().screenshot(&screenshots().join("failed.png")).await;
        let url = self.d().current_url().await.map(|u| u.to_string());
        panic!("no {css:?} ever said {needle:?} at {url:?}; the last one said {last:?}");
    }

    /// Makes the page see `prefers-color-scheme: SCHEME` (`""`: the system's again).
    pub async fn color_scheme(&self, scheme: &str) {
        let features =
            serde_json::json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]});
        self.d()
            .cdp()
            .send_raw("Emulation.setEmulatedMedia", features)
            .await
            .unwrap();
    }

    pub async fn js(&self, script: &str) -> Value {
        self.d()
            .execute(script, vec![])
            .await
            .unwrap()
            .json()
            .clone()
    }

    pub async fn stop(mut self) {
        if let Some(d) = self.driver.take() {
            d.quit().await.unwrap();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

pub fn run_async(f: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f);
}
