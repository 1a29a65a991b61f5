//! What `cellwise search --workers/--store` adds to a search (the driver's side of a study)
//! and what `cellwise worker` shares with it: opening the study, starting local workers,
//! ending the study with the run's files, and rebuilding a study's oracle.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Context;
use cellwise::data;
use cellwise::oracle::{Candidates, Oracle, OracleConfig};
use cellwise::problem::Problem;
use cellwise::search::Executor;
use cellwise::store::driver::RemoteStats;
use cellwise::store::{Remote, Store, Study, StudySpec};
use sha2::{Digest, Sha256};

use super::common::{split_holdout, splits_for, weights_for};

/// The run files a finished study keeps in the store (`cellwise study export`).
pub const RUN_FILES: [&str; 3] = ["run.json", "schedules.csv", "pareto.csv"];

/// Most local workers `--workers` starts.
pub const MAX_LOCAL_WORKERS: usize = 256;

/// How long local workers get to exit after their study ended.
const EXIT_GRACE: Duration = Duration::from_secs(30);

/// The memo's split key of an oracle: its split, where its images come from and its
/// arithmetic.
pub fn split_key(oracle: &Oracle, fixture: bool) -> String {
    format!(
        "{}{}/f32",
        if fixture { "fixture:" } else { "" },
        oracle.split()
    )
}

/// How local workers are started.
pub struct LocalWorkers {
    /// The driver's `--threads` (workers share the cores: each gets its share).
    pub threads: Option<usize>,
    pub lease_seconds: f64,
    pub data_dir: Option<PathBuf>,
}

/// The driver's side of a study.
pub struct Driver {
    url: String,
    study: Study,
    store: Store,
    children: Rc<RefCell<Vec<Child>>>,
    stats: Rc<RefCell<RemoteStats>>,
}

impl Driver {
    /// Opens (or reopens, for a restarted run) the study of `spec` in the store at `url`,
    /// named `name` or after the settings and model, and starts `workers` local workers.
    pub fn start(
        url: &str,
        mut spec: StudySpec,
        name: Option<String>,
        workers: Option<usize>,
        local: &LocalWorkers,
    ) -> anyhow::Result<Self> {
        if let Some(k) = workers {
            anyhow::ensure!(
                (1..=MAX_LOCAL_WORKERS).contains(&k),
                "--workers {k} is out of range: give 1 to {MAX_LOCAL_WORKERS} local workers"
            );
        }
        anyhow::ensure!(
            local.lease_seconds.is_finite() && local.lease_seconds > 0.0,
            "--lease-seconds {} must be a positive number of seconds",
            local.lease_seconds
        );
        spec.name = match name {
            Some(n) => n,
            None => default_name(&spec),
        };
        let mut store = Store::open(url)?;
        let study = store.open_study(&spec)?;
        let children = Rc::new(RefCell::new(Vec::new()));
        let driver = Self {
            url: url.to_string(),
            study,
            store,
            children: Rc::clone(&children),
            stats: Rc::default(),
        };
        if workers.is_none() {
            super::note(&format!(
                "study {} files its batches in {}; start workers: cellwise worker --store URL --study {0}",
                spec.name,
                driver.store.url()
            ));
        }
        if let Some(k) = workers {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let threads = (local.threads.unwrap_or(cores) / k).max(1);
            let exe = std::env::current_exe().context("finding this program to start workers")?;
            for i in 0..k {
                let mut cmd = Command::new(&exe);
                cmd.args(["worker", "--store", url, "--study", &spec.name])
                    .args(["--threads", &threads.to_string()])
                    .args(["--lease-seconds", &local.lease_seconds.to_string()])
                    .args(["--name", &format!("local{i}-{}", std::process::id())])
                    .args(["--parent", &std::process::id().to_string()])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null());
                if let Some(dir) = &local.data_dir {
                    cmd.arg("--data-dir").arg(dir);
                }
                let child = cmd.spawn().context("starting a local worker")?;
                children.borrow_mut().push(child);
            }
        }
        Ok(driver)
    }

    /// The executor that files the search's questions for the workers (batches of about
    /// `batch_seconds` of work).
    pub fn executor(&self, batch_seconds: f64) -> anyhow::Result<Box<dyn Executor + 'static>> {
        anyhow::ensure!(
            batch_seconds.is_finite() && batch_seconds > 0.0,
            "--batch-seconds {batch_seconds} must be a positive number of seconds"
        );
        let children = Rc::clone(&self.children);
        let local = !children.borrow().is_empty();
        let guard = move || -> Result<(), String> {
            if !local {
                return Ok(());
            }
            let mut children = children.borrow_mut();
            let mut last = None;
            for c in children.iter_mut() {
                match c.try_wait() {
                    Ok(Some(status)) => last = Some(status),
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(format!("watching local workers: {e}")),
                }
            }
            Err(format!(
                "all {} local workers have exited (the last with {}); the store keeps what they judged: rerun to resume",
                children.len(),
                last.map_or("no status".into(), |s| s.to_string())
            ))
        };
        Ok(Box::new(Remote::new(
            Store::open(&self.url)?,
            self.study.clone(),
            batch_seconds,
            Box::new(guard),
            Rc::clone(&self.stats),
        )))
    }

    /// The driver's counts for `timing.json`.
    pub fn timing(&self) -> serde_json::Value {
        serde_json::json!({
            "study": self.study.spec.name,
            "driver": *self.stats.borrow(),
            "local_workers": self.children.borrow().len(),
        })
    }

    /// Ends the study with the run's files (read back from `out`) and waits for the local
    /// workers to exit.
    pub fn finish(mut self, out: &Path) -> anyhow::Result<()> {
        let mut files = serde_json::Map::new();
        for name in RUN_FILES {
            let path = out.join(name);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            files.insert(name.to_string(), text.into());
        }
        let outputs = serde_json::to_string(&files)?;
        self.store
            .end_study(self.study.id, "done", Some(outputs))
            .with_context(|| format!("ending study {}", self.study.spec.name))?;
        self.reap();
        Ok(())
    }

    /// Ends the study as failed (its workers exit) after an error of the search.
    pub fn abandon(mut self) {
        // The search's error is what gets reported; the study stays resumable either way.
        let _ = self.store.end_study(self.study.id, "failed", None);
        self.reap();
    }

    /// Waits for the local workers, killing any still running after [`EXIT_GRACE`].
    fn reap(&mut self) {
        let start = Instant::now();
        for child in self.children.borrow_mut().iter_mut() {
            while matches!(child.try_wait(), Ok(None)) {
                if start.elapsed() >= EXIT_GRACE {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// The default study name: the strategy preset's name and a digest of the spec.
fn default_name(spec: &StudySpec) -> String {
    let strategy = spec.settings["strategy"].as_str().unwrap_or("search");
    let stem = Path::new(strategy)
        .file_stem()
        .map_or("search".into(), |s| s.to_string_lossy().into_owned());
    let digest = Sha256::digest(serde_json::to_string(spec).unwrap_or_default().as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{stem}-{hex}")
}

/// The oracle a study judges with, rebuilt from its spec (`weights` overrides the recorded
/// weights path); the model must have the study's fingerprint.
pub fn study_oracle(
    spec: &StudySpec,
    weights: Option<&Path>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<Oracle> {
    let problem = Problem::load(&spec.problem)?;
    let recorded = spec.weights.as_ref().map(PathBuf::from);
    let weights = weights_for(&problem, weights.or(recorded.as_deref()))?;
    let fingerprint = weights.fingerprint();
    anyhow::ensure!(
        fingerprint == spec.fingerprint,
        "this worker's model (fingerprint {fingerprint}) is not study {}'s ({}): give the study's weights (--weights)",
        spec.name,
        spec.fingerprint
    );
    let splits = if spec.fixture {
        data::load_fixture_splits(&problem)?
    } else {
        splits_for(&problem, data_dir)?
    };
    let candidates = Candidates::for_model(&problem, &weights, &splits.train)?;
    let config = OracleConfig {
        cache_stride: spec.cache_stride,
        memoise: spec.memoise,
        ..OracleConfig::default()
    };
    // The driver's `--holdout` images stay out of its search, so of its workers' too.
    let holdout = spec.settings["holdout"].as_u64().unwrap_or(0) as usize;
    let (searched, _) = split_holdout(splits.val, holdout)?;
    let oracle = Oracle::new(&weights, &searched, &candidates, &config)?;
    let key = split_key(&oracle, spec.fixture);
    anyhow::ensure!(
        key == spec.split,
        "study {} judges split {}, this worker's data give {key}",
        spec.name,
        spec.split
    );
    Ok(oracle)
}
