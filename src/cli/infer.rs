//! `cellwise infer --encrypted`: run schedules end to end under CKKS (client and server in one
//! process, or as separate processes exchanging files: `infer keygen | encrypt | serve |
//! decrypt`), and check them against the plaintext oracle and the cost model.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use ndarray::s;
use serde::{Deserialize, Serialize};

use super::common::{
    CalibrateArgs, CalibrationRecord, Kernels, calibrated, set_threads, splits_for, weights_for,
};
use cellwise::ckks::scheme::params::{PRESETS, ParametersLiteral};
use cellwise::cost::{self, CostModel, CostOptions};
use cellwise::data::{self, Split, Splits};
use cellwise::infer::files::{self, CiphertextInfo, Role};
use cellwise::infer::{
    self, CalibratedPrediction, Client, InferenceReport, NetShape, Request, Server, StepReport,
    argmax_rows,
};
use cellwise::model::Weights;
use cellwise::oracle::{Candidates, SAFE_ARGUMENT};
use cellwise::problem::{DEFAULT_PROBLEM, Problem};
use cellwise::schedule::Schedule;

/// Arguments of `cellwise infer`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    role: Option<RoleCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Subcommand)]
enum RoleCommand {
    /// Client: generate a key set into DIR (secret.key stays with the client, server.keys goes
    /// to the server).
    Keygen(KeygenArgs),
    /// Client: encrypt a batch of images into DIR/inputs.ct.
    Encrypt(EncryptArgs),
    /// Server: run a schedule on DIR/inputs.ct with DIR/server.keys; writes DIR/logits.ct.
    Serve(ServeArgs),
    /// Client: decrypt DIR/logits.ct and score the predictions.
    Decrypt(DecryptArgs),
}

/// The model and data.
#[derive(clap::Args)]
struct ModelArgs {
    /// Problem preset name or path to a .toml file.
    #[arg(long, default_value = DEFAULT_PROBLEM)]
    problem: String,
    /// Weights (.npz or .safetensors; default: the embedded model).
    #[arg(long)]
    weights: Option<PathBuf>,
}

/// Where images come from.
#[derive(clap::Args)]
struct DataArgs {
    /// Split the images come from.
    #[arg(long, default_value = "test", value_parser = ["val", "test"])]
    split: String,
    /// Images in the batch (default: as many as one ciphertext holds).
    #[arg(long)]
    images: Option<usize>,
    /// Index of the first image in the split.
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// Data directory (default: $CELLWISE_DATA_DIR, else ./data); fetched if missing.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Use the committed 200-image MNIST fixture instead (tests).
    #[arg(long, hide = true)]
    fixture: bool,
}

/// CKKS parameters and keys.
#[derive(clap::Args)]
struct KeyArgs {
    /// Parameter preset (fgb-like; fgb-like-12 for two degree-17 steps per bootstrap; test-boot
    /// for small insecure runs).
    #[arg(long, default_value = "fgb-like")]
    preset: String,
    /// Accept parameters below 128-bit security (the test presets need it).
    #[arg(long)]
    insecure: bool,
    /// TESTS ONLY: seed of keys and encryptions. The secret key is then derived from these 64
    /// bits, so anyone who knows or guesses the seed can decrypt (default: from the OS).
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Run under CKKS with the project's engine (the only mode; `cellwise eval` scores
    /// schedules in plaintext).
    #[arg(long)]
    encrypted: bool,
    /// Schedule(s) to run, e.g. `all-17`, `17 except 7@0,4,24` (repeatable; one key set).
    #[arg(long)]
    schedule: Vec<String>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    keys: KeyArgs,
    /// Run even if an image of the batch is unsafe in plaintext (it spoils its ciphertext).
    #[arg(long)]
    allow_unsafe: bool,
    /// Cost model that places the bootstraps and predicts the latency
    /// (`latency[:PROFILE]`, `bootstraps`, `depth`).
    #[arg(long, default_value = "latency")]
    cost: String,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to this file (atomically).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    calibrate: CalibrateArgs,
    /// Coefficient kernels of the CKKS engine (`auto`: the CPU's vector path; `portable`:
    /// scalar code).
    #[arg(long, value_enum, default_value_t = Kernels::Auto)]
    kernels: Kernels,
}

#[derive(clap::Args)]
struct KeygenArgs {
    /// Directory of the exchanged files.
    #[arg(long)]
    dir: PathBuf,
    #[command(flatten)]
    keys: KeyArgs,
    /// Problem preset (the network shape the keys are for).
    #[arg(long, default_value = DEFAULT_PROBLEM)]
    problem: String,
    /// Replace the secret key of an existing key set in DIR (whatever was encrypted under it
    /// can then never be decrypted).
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args)]
struct EncryptArgs {
    /// Directory of the exchanged files.
    #[arg(long)]
    dir: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Problem preset (how images become steps).
    #[arg(long, default_value = DEFAULT_PROBLEM)]
    problem: String,
    /// TESTS ONLY: seed of the encryptions' randomness (default: from the OS).
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Directory of the exchanged files.
    #[arg(long)]
    dir: PathBuf,
    /// The schedule to run.
    #[arg(long)]
    schedule: String,
    #[command(flatten)]
    model: ModelArgs,
    /// Cost model that places the bootstraps.
    #[arg(long, default_value = "latency")]
    cost: String,
    /// Data directory whose training split a `weighted` problem's fits are measured on
    /// (default: $CELLWISE_DATA_DIR, else ./data); other problems read no data.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Measure a `weighted` problem's fits on the committed MNIST fixture instead (tests).
    #[arg(long, hide = true)]
    fixture: bool,
    /// Accept keys of parameters below 128-bit security.
    #[arg(long)]
    insecure: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the server's report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct DecryptArgs {
    /// Directory of the exchanged files.
    #[arg(long)]
    dir: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The client's note of what it encrypted (kept beside its secret key, readable by its owner
/// only: it holds the batch's labels).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchNote {
    split: String,
    offset: usize,
    labels: Vec<u8>,
    /// The digest of the inputs file (hex): the logits of this batch name it.
    inputs: String,
}

const BATCH_NOTE: &str = "batch.json";
/// Largest batch note read: 2^15 labels (the largest batch) take about 64 KB of JSON.
const MAX_NOTE_BYTES: u64 = 1 << 20;

/// Runs `cellwise infer`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.role {
        Some(RoleCommand::Keygen(a)) => keygen(a),
        Some(RoleCommand::Encrypt(a)) => encrypt(a),
        Some(RoleCommand::Serve(a)) => serve(a),
        Some(RoleCommand::Decrypt(a)) => decrypt(a),
        None => in_process(args.run),
    }
}

fn parameters(k: &KeyArgs) -> anyhow::Result<ParametersLiteral> {
    let mut lit = ParametersLiteral::preset(&k.preset).with_context(|| {
        format!(
            "unknown preset '{}' (known: {})",
            k.preset,
            PRESETS.join(", ")
        )
    })?;
    lit.insecure = k.insecure;
    lit.build()
        .with_context(|| format!("parameters {}", k.preset))?;
    Ok(lit)
}

fn schedule_of(text: &str, problem: &Problem) -> anyhow::Result<Schedule> {
    let space = problem.space();
    let s = Schedule::parse(text, space.shape())?;
    s.check_degrees(&space)?;
    Ok(s)
}

/// The cost-model spec `spec` checked for `problem` at the parameters `params` (their levels
/// between bootstraps; `latency` without a profile takes their preset's own), built with the
/// candidates' fits once they exist.
fn cost_spec(
    spec: &str,
    problem: &Problem,
    params: &ParametersLiteral,
) -> anyhow::Result<cost::Spec> {
    let options = CostOptions {
        levels: Some(params.levels),
        preset: params.preset_name(),
        ..CostOptions::default()
    };
    cost::Spec::parse(spec, problem, &options).with_context(|| format!("cost model '{spec}'"))
}

/// The cost model of `spec` planning and pricing the fits of `candidates`.
fn cost_model(
    spec: cost::Spec,
    name: &str,
    problem: &Problem,
    candidates: &Candidates,
) -> anyhow::Result<Box<dyn CostModel>> {
    spec.build(problem, Some(candidates))
        .with_context(|| format!("cost model '{name}'"))
}

/// The problem's splits from `d` (the committed fixture with `--fixture`).
fn splits_of(problem: &Problem, d: &DataArgs) -> anyhow::Result<Splits> {
    Ok(if d.fixture {
        data::load_fixture_splits(problem)?
    } else {
        splits_for(problem, d.data_dir.clone())?
    })
}

/// The server's candidate fits: a `weighted` problem measures its training split in
/// `data_dir` (the data are read only then), or in the committed fixture with `fixture`.
fn server_candidates(
    problem: &Problem,
    weights: &Weights,
    data_dir: Option<PathBuf>,
    fixture: bool,
) -> anyhow::Result<Candidates> {
    if !problem.fits_need_data() {
        return Ok(Candidates::from_problem(problem, None)?);
    }
    let train = if fixture {
        data::load_fixture_splits(problem)?.train
    } else {
        splits_for(problem, data_dir)?.train
    };
    Ok(Candidates::for_model(problem, weights, &train)?)
}

/// The batch's images and labels from `d`'s split.
fn batch(splits: Splits, d: &DataArgs, capacity: usize) -> anyhow::Result<Split> {
    let split = if d.split == "val" {
        splits.val
    } else {
        splits.test
    };
    anyhow::ensure!(
        d.offset < split.len(),
        "--offset {}: the {} split has {} images",
        d.offset,
        split.name,
        split.len()
    );
    let n = d.images.unwrap_or(capacity.min(split.len() - d.offset));
    anyhow::ensure!(
        (1..=capacity).contains(&n),
        "--images {n}: a batch holds 1 to {capacity} images with these parameters"
    );
    anyhow::ensure!(
        d.offset + n <= split.len(),
        "images {}..{} are beyond the {} images of the {} split",
        d.offset,
        d.offset + n,
        split.len(),
        split.name
    );
    Ok(Split {
        name: format!("{}[{}..{}]", split.name, d.offset, d.offset + n),
        images: split
            .images
            .slice(s![d.offset..d.offset + n, .., ..])
            .to_owned(),
        labels: split.labels[d.offset..d.offset + n].to_vec(),
    })
}

fn progress(total: usize) -> impl FnMut(&StepReport) {
    move |r: &StepReport| {
        let what = match (r.degree, &r.degrees) {
            (Some(d), _) => format!("degree {d}"),
            (None, Some(ds)) => format!(
                "degrees {}",
                ds.iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            (None, None) => "output layer".to_string(),
        };
        let predicted = r
            .predicted_seconds
            .map_or(String::new(), |p| format!(" (predicted {p:>6.1} s)"));
        eprintln!(
            "  step {:>2}/{total} {what:<12} level {} -> {}  {} bootstrap(s) {:>6.1} s  step {:>6.1} s{predicted}",
            r.step, r.level_in, r.level_out, r.bootstraps, r.bootstrap_seconds, r.seconds
        );
    }
}

/// The JSON of an in-process run.
#[derive(Serialize)]
struct RunRecord<'a> {
    command: String,
    /// The commit the binary was built from (`-dirty` with uncommitted changes).
    git: &'static str,
    date: String,
    cpu: String,
    threads: usize,
    preset: &'a str,
    secure: bool,
    problem: &'a str,
    weights: String,
    split: &'a str,
    kernels: &'static str,
    keygen_seconds: f64,
    server_setup_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    calibration: Option<CalibrationRecord>,
    reports: &'a [InferenceReport],
}

/// Refuses, before anything is encrypted, a batch with an image that leaves the safe range
/// in plaintext under one of the schedules: under CKKS it would turn the whole batch to
/// noise at the next bootstrap, after minutes of computation.
fn refuse_unsafe(
    schedules: &[Schedule],
    candidates: &Candidates,
    weights: &Weights,
    batch: &Split,
    offset: usize,
) -> anyhow::Result<()> {
    for s in schedules {
        let cells = infer::cells_for(s, candidates)?;
        let unsafe_images = infer::reference(weights, batch.images.view(), &cells).unsafe_images();
        if let Some(&(i, m)) = unsafe_images.iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
            anyhow::bail!(
                "schedule {s}: {} of the {} images leave {SAFE_ARGUMENT} half-widths of the fit interval in plaintext (image {} of the split, peak |t| {m:.3e}), so under CKKS the whole batch would be noise; use a batch-safe problem (a -safe preset such as mnist-rnn32-safe), other images (--offset), or --allow-unsafe",
                unsafe_images.len(),
                batch.len(),
                offset + i
            );
        }
    }
    Ok(())
}

fn in_process(a: RunArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.encrypted,
        "`cellwise infer` runs under CKKS: pass --encrypted (`cellwise eval` scores schedules in plaintext)"
    );
    anyhow::ensure!(!a.schedule.is_empty(), "give at least one --schedule");
    if let Some(path) = &a.out {
        cellwise::fsutil::check_writable(path)
            .with_context(|| format!("--out {}: cannot write there", path.display()))?;
    }
    set_threads(a.threads)?;
    let problem = Problem::load(&a.model.problem)?;
    let schedules = a
        .schedule
        .iter()
        .map(|t| schedule_of(t, &problem))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let weights = weights_for(&problem, a.model.weights.as_deref())?;
    let params = parameters(&a.keys)?;
    let cost = cost_spec(&a.cost, &problem, &params)?;
    a.kernels.apply();
    let calibrated = calibrated(&cost, &a.calibrate)?;
    let splits = splits_of(&problem, &a.data)?;
    let candidates = Candidates::for_model(&problem, &weights, &splits.train)?;
    let cost = cost_model(cost, &a.cost, &problem, &candidates)?;
    let (calibrated_cost, calibration) = match calibrated {
        Some(c) => (
            Some(cost_model(c.spec, &a.cost, &problem, &candidates)?),
            Some(c.record),
        ),
        None => (None, None),
    };
    let shape = NetShape::of(&problem);

    let capacity = shape.layout(params.build()?.slots())?.batch;
    let batch = batch(splits, &a.data, capacity)?;
    if !a.allow_unsafe {
        refuse_unsafe(&schedules, &candidates, &weights, &batch, a.data.offset)?;
    }

    eprintln!("key generation ({})", a.keys.preset);
    let t = Instant::now();
    let (client, server_keys) = Client::keygen(&params, shape, a.keys.seed)?;
    let keygen_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let server = Server::new(server_keys, &weights)?;
    let server_setup_seconds = t.elapsed().as_secs_f64();
    eprintln!("keys {keygen_seconds:.1} s, server setup {server_setup_seconds:.1} s");

    let mut reports = Vec::new();
    for s in &schedules {
        eprintln!("schedule {s} ({} images)", batch.len());
        let req = Request {
            schedule: s,
            candidates: &candidates,
            cost: cost.as_ref(),
            weights: &weights,
            images: batch.images.view(),
            labels: &batch.labels,
        };
        let mut report =
            infer::run_schedule(&client, &server, &req, &mut progress(problem.steps()))?;
        if let Some(model) = &calibrated_cost {
            report.calibrated = Some(CalibratedPrediction::of(model.as_ref(), s, &report)?);
        }
        if let Some(&(i, m)) = report
            .unsafe_images
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
        {
            eprintln!(
                "warning: {} image(s) leave the polynomials' interval in plaintext (peak |t| {m:.3e}, image {} of the split); under CKKS such an image can corrupt every image of its ciphertext at the next bootstrap",
                report.unsafe_images.len(),
                a.data.offset + i
            );
        }
        reports.push(report);
    }
    let record = RunRecord {
        command: std::env::args()
            .map(|a| {
                if a.contains(' ') {
                    format!("\"{a}\"")
                } else {
                    a
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        git: env!("CELLWISE_GIT_HASH"),
        date: cellwise::sysinfo::utc_date(),
        cpu: cellwise::sysinfo::cpu_model(),
        threads: rayon::current_num_threads(),
        preset: &a.keys.preset,
        secure: !params.insecure,
        problem: &problem.name,
        weights: weights.fingerprint(),
        split: &batch.name,
        kernels: cellwise::ckks::math::lanes::path().name(),
        keygen_seconds,
        server_setup_seconds,
        calibration,
        reports: &reports,
    };
    let json = serde_json::to_string_pretty(&record)?;
    if let Some(path) = &a.out {
        cellwise::fsutil::write_atomic(path, json.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if a.json {
        super::print(&format!("{json}\n"))?;
    } else {
        print_table(&record)?;
    }
    Ok(())
}

fn print_table(r: &RunRecord<'_>) -> anyhow::Result<()> {
    super::print(&format!(
        "{} ({}), {} threads, {} images of {}; keys {:.1} s, server setup {:.1} s\n",
        r.preset,
        r.cpu,
        r.threads,
        r.reports.first().map_or(0, |x| x.images),
        r.split,
        r.keygen_seconds,
        r.server_setup_seconds
    ))?;
    super::print(&format!(
        "{:<30} {:>9} {:>9} {:>9} {:>10} {:>10} {:>7} {:>6} {:>10} {:>9}\n",
        "schedule",
        "agree",
        "acc enc",
        "acc plain",
        "measured",
        "predicted",
        "error",
        "boots",
        "max dlogit",
        "unsafe"
    ))?;
    for x in r.reports {
        super::print(&format!(
            "{:<30} {:>8.2}% {:>8.2}% {:>8.2}% {:>9.1}s {:>9.1}{} {:>7} {:>6} {:>10.1e} {:>9}\n",
            x.schedule,
            100.0 * x.agreement,
            100.0 * x.accuracy_encrypted,
            100.0 * x.accuracy_plaintext,
            x.server_seconds,
            x.predicted,
            if x.prediction_error.is_some() {
                "s"
            } else {
                " "
            },
            x.prediction_error
                .map_or("-".to_string(), |e| format!("{:+.1}%", 100.0 * e)),
            x.bootstraps,
            x.max_logit_error,
            x.unsafe_images.len()
        ))?;
        if let Some(c) = &x.calibrated {
            super::print(&format!(
                "{:<30} calibrated to this machine: predicted {:.1} s, error {:+.1}% ({} bootstraps; {})\n",
                "",
                c.predicted,
                100.0 * c.prediction_error,
                c.bootstraps,
                c.cost_model
            ))?;
        }
    }
    Ok(())
}

fn keygen(a: KeygenArgs) -> anyhow::Result<()> {
    let secret = a.dir.join(files::SECRET_KEY);
    anyhow::ensure!(
        a.force || !secret.exists(),
        "{} exists: a new key set would replace it, and what was encrypted under it could never be decrypted again; pass --force to replace it",
        secret.display()
    );
    let problem = Problem::load(&a.problem)?;
    let params = parameters(&a.keys)?;
    std::fs::create_dir_all(&a.dir).with_context(|| format!("creating {}", a.dir.display()))?;
    if a.keys.seed.is_some() {
        eprintln!(
            "warning: --seed derives the secret key from a 64-bit seed: these keys are for tests only, not secret"
        );
    }
    let (client, keys) = Client::keygen(&params, NetShape::of(&problem), a.keys.seed)?;
    files::write_secret(&a.dir.join(files::SECRET_KEY), &client)?;
    files::write_server_keys(&a.dir.join(files::SERVER_KEYS), &keys)?;
    super::print(&format!(
        "key set {:016x}: {} (client only), {} (for the server)\n",
        client.key_set(),
        a.dir.join(files::SECRET_KEY).display(),
        a.dir.join(files::SERVER_KEYS).display()
    ))?;
    Ok(())
}

fn encrypt(a: EncryptArgs) -> anyhow::Result<()> {
    let problem = Problem::load(&a.problem)?;
    let client = files::read_secret(&a.dir.join(files::SECRET_KEY), a.seed)?;
    anyhow::ensure!(
        client.shape() == NetShape::of(&problem),
        "the keys in {} were made for another network shape than problem '{}'",
        a.dir.display(),
        problem.name
    );
    let batch = batch(
        splits_of(&problem, &a.data)?,
        &a.data,
        client.batch_capacity(),
    )?;
    let enc = client.encrypt(batch.images.view())?;
    let info = CiphertextInfo {
        key_set: client.key_set(),
        shape: client.shape(),
        role: Role::Inputs,
        images: enc.images,
        batch: None,
    };
    let digest = files::write_ciphertexts(
        &a.dir.join(files::INPUTS),
        client.params(),
        client.context(),
        &info,
        &enc.inputs,
    )?;
    let note = BatchNote {
        split: batch.name.clone(),
        offset: a.data.offset,
        labels: batch.labels.clone(),
        inputs: files::hex(&digest),
    };
    let json = serde_json::to_string(&note)?;
    let path = a.dir.join(BATCH_NOTE);
    cellwise::fsutil::write_atomic_with_mode(&path, 0o600, |out| {
        std::io::Write::write_all(out, json.as_bytes())
    })
    .with_context(|| format!("writing {}", path.display()))?;
    super::print(&format!(
        "encrypted {} images of {} into {}\n",
        enc.images,
        batch.name,
        a.dir.join(files::INPUTS).display()
    ))?;
    Ok(())
}

fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let secret = a.dir.join(files::SECRET_KEY);
    anyhow::ensure!(
        !secret.exists(),
        "{} exists: the server must never see the secret key; give `infer serve` a directory with only {} and {}",
        secret.display(),
        files::SERVER_KEYS,
        files::INPUTS
    );
    set_threads(a.threads)?;
    let problem = Problem::load(&a.model.problem)?;
    let schedule = schedule_of(&a.schedule, &problem)?;
    let weights = weights_for(&problem, a.model.weights.as_deref())?;
    let keys = files::read_server_keys(&a.dir.join(files::SERVER_KEYS))?;
    anyhow::ensure!(
        !keys.params.insecure || a.insecure,
        "the keys in {} are for parameters below 128-bit security: pass --insecure to accept them",
        a.dir.display()
    );
    anyhow::ensure!(
        keys.shape == NetShape::of(&problem),
        "the keys were made for another network shape than problem '{}'",
        problem.name
    );
    let (params, key_set, shape) = (keys.params.clone(), keys.key_set, keys.shape);
    let server = Server::new(keys, &weights)?;
    let inputs_path = a.dir.join(files::INPUTS);
    let inputs =
        files::read_ciphertexts(&inputs_path, server.context(), key_set, shape, Role::Inputs)?;
    let images = inputs.info.images;
    let cost = cost_spec(&a.cost, &problem, &params)?;
    let candidates = server_candidates(&problem, &weights, a.data_dir.clone(), a.fixture)?;
    let cost = cost_model(cost, &a.cost, &problem, &candidates)?;
    let cells = infer::cells_for(&schedule, &candidates)?;
    let (placement, breakdown) =
        infer::placement_for(cost.as_ref(), &schedule, &cells, shape, server.top_level())?;
    server.prepare(&cells, &placement)?;
    let batch = infer::EncryptedBatch {
        key_set,
        images,
        inputs: inputs.ciphertexts,
    };
    let (logits, run) = server.infer(&batch, &cells, &placement, &mut progress(problem.steps()))?;
    let info = CiphertextInfo {
        key_set,
        shape,
        role: Role::Logits,
        images,
        batch: Some(inputs.digest),
    };
    files::write_ciphertexts(
        &a.dir.join(files::LOGITS),
        &params,
        server.context(),
        &info,
        std::slice::from_ref(&logits),
    )?;
    if a.json {
        super::print(&format!("{}\n", serde_json::to_string_pretty(&run)?))?;
    } else {
        super::print(&format!(
            "schedule {schedule}: {images} images in {:.1} s ({} bootstraps, {:.1} s); {} predicted {:.1} {}; wrote {}\n",
            run.seconds,
            run.bootstraps,
            run.bootstrap_seconds,
            cost.name(),
            breakdown.total,
            cost.unit(),
            a.dir.join(files::LOGITS).display()
        ))?;
    }
    Ok(())
}

fn decrypt(a: DecryptArgs) -> anyhow::Result<()> {
    let client = files::read_secret(&a.dir.join(files::SECRET_KEY), None)?;
    let note_path = a.dir.join(BATCH_NOTE);
    let note = read_note(&note_path)?;
    let logits_path = a.dir.join(files::LOGITS);
    let logits = files::read_ciphertexts(
        &logits_path,
        client.context(),
        client.key_set(),
        client.shape(),
        Role::Logits,
    )?;
    let answered = logits.info.batch.as_ref().map(files::hex);
    anyhow::ensure!(
        answered.as_deref() == Some(note.inputs.as_str()),
        "{} answers another batch (inputs {}) than the one {} records ({}, inputs {}): serve this batch's {} again",
        logits_path.display(),
        short(answered.as_deref().unwrap_or("unknown")),
        BATCH_NOTE,
        note.split,
        short(&note.inputs),
        files::INPUTS
    );
    let images = logits.info.images;
    anyhow::ensure!(
        note.labels.len() == images,
        "{} holds {} labels for a batch of {images} images",
        note_path.display(),
        note.labels.len()
    );
    let decrypted = client.decrypt(&logits.ciphertexts[0], images)?;
    let predictions = argmax_rows(&decrypted);
    let correct = predictions
        .iter()
        .zip(&note.labels)
        .filter(|(p, l)| p == l)
        .count();
    if a.json {
        let v = serde_json::json!({
            "images": images,
            "predictions": predictions,
            "correct": correct,
            "split": note.split,
        });
        super::print(&format!("{}\n", serde_json::to_string_pretty(&v)?))?;
    } else {
        super::print(&format!(
            "{images} images of {}: {correct} correct ({:.2} %)\n",
            note.split,
            100.0 * correct as f64 / images as f64
        ))?;
    }
    Ok(())
}

/// The first 12 hex digits of a digest (enough to tell batches apart in a message).
fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

/// The client's batch note (written by `infer encrypt`), read only up to its size bound.
fn read_note(path: &Path) -> anyhow::Result<BatchNote> {
    let size = std::fs::metadata(path)
        .with_context(|| {
            format!(
                "{}: infer decrypt needs the note infer encrypt writes beside the secret key",
                path.display()
            )
        })?
        .len();
    anyhow::ensure!(
        size <= MAX_NOTE_BYTES,
        "{}: {size} bytes, a batch note has at most {MAX_NOTE_BYTES}",
        path.display()
    );
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}
