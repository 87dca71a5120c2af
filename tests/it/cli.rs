//! The `backprop` binary end to end: the README's first command, every head
//! from CSV, eval and predict output, model files in PyTorch's layout,
//! --init, --val-split, --log, and bench.
//!
//! The command line's other behaviours have files of their own: CSV
//! columns, labels and delimiters (csv.rs), scaling (scaling.rs,
//! standardize.rs), the summary, log keys and progress (feedback.rs),
//! eval's report (eval_report.rs), predict's columns (predict_columns.rs),
//! Ctrl-C, lengthening a run, the log's first line and the checkpoint's
//! removal (interrupt.rs), kills and resumes (resume.rs), plot (plot.rs),
//! bad input (bad_input.rs, hostile.rs, outputs.rs), and the README's
//! commands (readme.rs).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_backprop"))
}

/// A fresh empty folder under the system's temporary folder.
fn scratch() -> PathBuf {
    common::scratch("cli")
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The number under `key` in a JSON object.
fn json_field(json: &str, key: &str) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{json:?}: {e}"));
    v.get(key)?.as_f64()
}

/// A CSV of `rows` rows: 4 features in [-1, 1], then the targets `f` gives.
fn write_csv(path: &Path, rows: usize, header: bool, f: impl Fn(&[f32]) -> Vec<f32>) {
    let mut rng = backprop::rng::Rng::new(rows as u64);
    let mut s = String::new();
    for r in 0..rows {
        let x: Vec<f32> = (0..4).map(|_| rng.uniform(-1.0, 1.0)).collect();
        if header && r == 0 {
            let targets = (1..=f(&x).len()).map(|k| format!(",t{k}")).collect::<String>();
            s += &format!("a,b,c,d{targets}\n");
        }
        let cells: Vec<String> = x.iter().chain(f(&x).iter()).map(|v| v.to_string()).collect();
        s += &cells.join(",");
        s += "\n";
    }
    std::fs::write(path, s).unwrap();
}

/// `cargo run --release -- train` with every default: the bundled digits,
/// 784-128-10, and at least 93% on the bundled test set.
#[test]
fn the_default_run_reaches_93_percent_on_the_bundled_digits() {
    let dir = scratch();
    let t0 = std::time::Instant::now();
    let out =
        run(bin().current_dir(env!("CARGO_MANIFEST_DIR")).args(["train", "--out"]).arg(dir.join("m.safetensors")));
    let wall = t0.elapsed().as_secs_f64();
    let text = stdout(&out);
    let last = text.lines().find(|l| l.starts_with("epoch 10/10")).expect("ten epochs");
    let acc: f64 = last.split("test accuracy ").nth(1).unwrap().split('%').next().unwrap().parse().unwrap();
    assert!(acc >= 93.0, "test accuracy {acc}% in: {last}");
    assert!(last.contains("samples/s"), "{last}");
    // The time at the end of each line is the run's elapsed time so far: it
    // never decreases and never exceeds the process's own wall time (it
    // is printed to 0.1 s).
    let times: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("epoch "))
        .map(|l| l.rsplit("  ").next().unwrap().trim_end_matches('s').parse().unwrap())
        .collect();
    assert_eq!(times.len(), 10, "{text}");
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "elapsed times go back: {times:?}");
    assert!(times[9] <= wall + 0.05, "elapsed {} s printed by a run that took {wall:.2} s", times[9]);
    let json = stdout(&run(bin()
        .args(["eval", "--json", "--model"])
        .arg(dir.join("m.safetensors"))
        .arg("--data")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist10k/test-images-idx3-ubyte.gz"))));
    assert_eq!(json_field(&json, "rows"), Some(2000.0));
    assert!((json_field(&json, "accuracy").unwrap() * 100.0 - acc).abs() < 1e-9, "{json}");
}

#[test]
fn softmax_logistic_and_linear_from_csv() {
    let dir = scratch();
    type Targets = fn(&[f32]) -> Vec<f32>;
    let cases: [(&str, usize, Targets); 3] = [
        ("softmax", 1, |x| vec![(x[0] > 0.0) as u8 as f32 + (x[1] > 0.0) as u8 as f32]),
        ("logistic", 2, |x| vec![(x[0] > x[1]) as u8 as f32, (x[2] > 0.0) as u8 as f32]),
        ("linear", 2, |x| vec![x[0] + 2.0 * x[1], x[2] - x[3]]),
    ];
    for (head, k, f) in cases {
        let data = dir.join(format!("{head}.csv"));
        write_csv(&data, 400, true, f);
        let model = dir.join(format!("{head}.safetensors"));
        let k = k.to_string();
        let lr = if head == "linear" { "0.1" } else { "1.0" };
        let args = [
            "train",
            "--head",
            head,
            "--targets",
            &k,
            "--hidden",
            "16",
            "--epochs",
            "60",
            "--batch-size",
            "16",
            "--lr",
            lr,
            "--quiet",
        ];
        let out = run(bin().args(args).arg("--data").arg(&data).arg("--out").arg(&model));
        assert!(out.stdout.is_empty(), "--quiet printed {:?}", stdout(&out));
        let json = stdout(&run(bin()
            .args(["eval", "--json", "--targets", &k, "--model"])
            .arg(&model)
            .arg("--data")
            .arg(&data)));
        assert_eq!(json_field(&json, "rows"), Some(400.0), "{json}");
        match head {
            "linear" => {
                assert!(json_field(&json, "r2").unwrap() > 0.9, "{head}: {json}");
                assert!(json_field(&json, "rmse").unwrap() < 0.5, "{head}: {json}");
                assert!(json_field(&json, "accuracy").is_none());
            }
            _ => assert!(json_field(&json, "accuracy").unwrap() > 0.9, "{head}: {json}"),
        }
        let pred =
            stdout(&run(bin().args(["predict", "--targets", &k, "--model"]).arg(&model).arg("--data").arg(&data)));
        let lines: Vec<&str> = pred.lines().collect();
        assert_eq!(lines.len(), 401, "{head}: a header and one line per row");
        // softmax: class and 3 probabilities; logistic: 2 labels and their
        // probabilities; linear: 2 outputs.
        let cols = match head {
            "softmax" => 1 + 3,
            "logistic" => 2 + 2,
            _ => 2,
        };
        assert!(lines[1..].iter().all(|l| l.split(',').count() == cols), "{head}: {}", lines[1]);
        if head == "softmax" {
            // The first column is the argmax of the probabilities, which sum to 1.
            for l in &lines[1..] {
                let v: Vec<f32> = l.split(',').map(|c| c.parse().unwrap()).collect();
                let best = (1..4).fold(1, |b, i| if v[i] > v[b] { i } else { b });
                assert_eq!(v[0] as usize, best - 1, "{l}");
                assert!((v[1..].iter().sum::<f32>() - 1.0).abs() < 1e-5, "{l}");
            }
        }
    }
}

#[test]
fn model_files_use_pytorch_linear_layout_and_metadata() {
    let dir = scratch();
    let data = dir.join("d.csv");
    write_csv(&data, 50, false, |x| vec![(x[0] > 0.0) as u8 as f32]);
    let model = dir.join("m.safetensors");
    run(bin()
        .args(["train", "--hidden", "7,5", "--activation", "tanh", "--epochs", "1", "--quiet", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&model));
    let bytes = std::fs::read(&model).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta["format"], "backprop-mlp");
    assert_eq!(meta["version"], "1");
    assert_eq!(meta["activation"], "tanh");
    assert_eq!(meta["head"], "softmax");
    assert_eq!(meta["layers"], "4,7,5,2");
    for (i, (o, n)) in [(7, 4), (5, 7), (2, 5)].into_iter().enumerate() {
        let w = st.tensor(&format!("layers.{i}.weight")).unwrap();
        assert_eq!((w.dtype(), w.shape()), (safetensors::Dtype::F32, &[o, n][..]));
        assert_eq!(st.tensor(&format!("layers.{i}.bias")).unwrap().shape(), &[o]);
    }
    // W[in][out] in memory is weight[out][in] in the file.
    let m = backprop::Mlp::load(&model).unwrap();
    let w = st.tensor("layers.1.weight").unwrap();
    let file_w: Vec<f32> = w.data().chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let mem = m.layer(1).unwrap().weight;
    for r in 0..5 {
        for c in 0..7 {
            assert_eq!(file_w[r * 7 + c], mem[c * 5 + r]);
        }
    }
}

#[test]
fn init_continues_training_and_refuses_conflicting_architecture() {
    let dir = scratch();
    let data = dir.join("d.csv");
    write_csv(&data, 80, true, |x| vec![(x[0] + x[1] > 0.0) as u8 as f32]);
    let first = dir.join("a.safetensors");
    let log = dir.join("log.jsonl");
    run(bin()
        .args(["train", "--hidden", "6", "--epochs", "3", "--quiet", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&first)
        .arg("--log")
        .arg(&log));
    let lines = std::fs::read_to_string(&log).unwrap();
    assert_eq!(lines.lines().count(), 4, "the run's line, then one JSON object per epoch");
    let epochs = lines.lines().skip(1);
    assert!(epochs.clone().all(|l| l.starts_with("{\"run\":") && l.contains(",\"epoch\":")), "{lines}");
    assert!(epochs.into_iter().all(|l| json_field(l, "train_loss").is_some()), "{lines}");
    let second = dir.join("b.safetensors");
    let out = run(bin()
        .args(["train", "--epochs", "2", "--data"])
        .arg(&data)
        .arg("--init")
        .arg(&first)
        .arg("--out")
        .arg(&second));
    assert!(stdout(&out).contains("epoch 2/2"));
    let (a, b) = (backprop::Mlp::load(&first).unwrap(), backprop::Mlp::load(&second).unwrap());
    assert_eq!(a.sizes(), b.sizes());
    assert_ne!(a.params(), b.params());
    let clash = bin()
        .args(["train", "--hidden", "9", "--data"])
        .arg(&data)
        .arg("--init")
        .arg(&first)
        .arg("--out")
        .arg(&second)
        .output()
        .unwrap();
    assert_eq!(clash.status.code(), Some(2));
    let err = String::from_utf8_lossy(&clash.stderr);
    assert!(err.starts_with("error: --hidden 9 conflicts") && err.contains("hidden 6"), "{err}");
}

#[test]
fn val_split_no_shuffle_and_same_seed_same_model() {
    let dir = scratch();
    let data = dir.join("d.csv");
    write_csv(&data, 101, false, |x| vec![(x[3] > 0.0) as u8 as f32]);
    let train = |out: &Path, extra: &[&str]| {
        // Every step on the pool, however small (a hidden testing setting):
        // the 2- and 3-thread runs really run in parallel.
        let o = run(bin()
            .env("BACKPROP_MIN_PARALLEL_FLOPS", "0")
            .args(["train", "--epochs", "2", "--batch-size", "16", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(out)
            .args(extra));
        stdout(&o)
    };
    let text = train(&dir.join("v.safetensors"), &["--val-split", "0.2", "--threads", "2"]);
    assert!(text.contains("val loss") && text.contains("val accuracy"), "{text}");
    train(&dir.join("a.safetensors"), &["--no-shuffle", "--threads", "1"]);
    train(&dir.join("b.safetensors"), &["--no-shuffle", "--threads", "2"]);
    train(&dir.join("b3.safetensors"), &["--no-shuffle", "--threads", "3", "--shard-rows", "5"]);
    train(&dir.join("a3.safetensors"), &["--no-shuffle", "--threads", "1", "--shard-rows", "5"]);
    train(&dir.join("c.safetensors"), &["--threads", "2"]);
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    assert!(read("a.safetensors") == read("b.safetensors"), "the same run on 1 and 2 threads gave different files");
    assert!(read("a3.safetensors") == read("b3.safetensors"), "4 shards on 1 and 3 threads gave different files");
    assert!(read("a.safetensors") != read("c.safetensors"), "shuffled and unshuffled runs gave the same file");
}

#[test]
fn bench_reports_json() {
    let out = run(bin().args([
        "bench",
        "--layers",
        "20,16,4",
        "--batch-size",
        "8",
        "--threads",
        "1,2",
        "--seconds",
        "0.05",
        "--json",
    ]));
    let text = stdout(&out);
    let runs: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(runs.len(), 2, "{text}");
    for (obj, t) in runs.iter().zip([1, 2]) {
        assert_eq!(obj["threads"], t, "{obj}");
        assert_eq!(obj["layers"], serde_json::json!([20, 16, 4]), "{obj}");
        assert_eq!(obj["batch_size"], 8);
        assert!(obj["samples_per_sec"].as_f64().unwrap() > 0.0);
        assert!(obj["gflops"].as_f64().unwrap() > 0.0);
    }
}

/// `bench --peak` prints the core's FP32 FMA peak and its bf16 dot peak
/// (null without AVX512-BF16); it refuses the flags of step timing.
#[test]
fn bench_peak_reports_both_peaks() {
    let text = stdout(&run(bin().args(["bench", "--peak", "--seconds", "0.02", "--json"])));
    let p: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert!(p["fp32_fma_gflops"].as_f64().is_some_and(|v| v > 0.0), "{p}");
    assert!(["avx512", "avx2", "portable"].contains(&p["fp32_path"].as_str().unwrap()), "{p}");
    #[cfg(target_arch = "x86_64")]
    assert_eq!(p["bf16_dot_gflops"].as_f64().is_some(), std::arch::is_x86_feature_detected!("avx512bf16"), "{p}");
    let o = bin().args(["bench", "--peak", "--inference"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Bare `backprop` is a usage error that lists the commands.
#[test]
fn bare_backprop_lists_the_commands() {
    let o = bin().output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    for cmd in ["train", "eval", "predict", "bench", "plot", "Usage: backprop <COMMAND>"] {
        assert!(err.contains(cmd), "{err}");
    }
}

/// Raw-scale regression data diverges; the error says only what is true of
/// the files, and what to try.
#[test]
fn divergence_names_only_the_files_that_exist_and_suggests_scaling() {
    let d = scratch();
    let mut rng = backprop::rng::Rng::new(7);
    let mut s = String::from("sqft,rooms,age,price\n");
    for _ in 0..300 {
        let (a, r, g) = (rng.uniform(500.0, 4000.0), (rng.uniform(1.0, 6.0)).round(), rng.uniform(0.0, 80.0));
        s += &format!("{a:.0},{r},{g:.1},{:.0}\n", 100.0 * a + 20000.0 * r - 1000.0 * g);
    }
    std::fs::write(d.join("prices.csv"), s).unwrap();
    // lr 1 diverges in epoch 2: after a save when every epoch saves, before
    // any with the default cadence (the first checkpoint would come 5 s
    // in); lr 1e6 in the first epoch.
    for (lr, seconds, saved) in [("1", "0", true), ("1", "5", false), ("1e6", "0", false)] {
        let o = bin()
            .current_dir(&d)
            .args(["train", "--data", "prices.csv", "--head", "linear", "--quiet", "--out", "p.safetensors"])
            .args(["--lr", lr, "--checkpoint-seconds", seconds])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("diverged") && err.contains("the targets reach"), "{err}");
        assert!(err.contains("try a smaller --lr than"), "{err}");
        let (model, ck) = (d.join("p.safetensors").exists(), d.join("p.safetensors.ckpt").exists());
        if saved {
            assert!(err.contains("p.safetensors holds the model of epoch 1") && model && ck, "{err}");
        } else {
            assert!(err.contains("nothing was written") && !model && !ck, "{err}");
        }
        let _ = std::fs::remove_file(d.join("p.safetensors"));
        let _ = std::fs::remove_file(d.join("p.safetensors.ckpt"));
    }
}

/// A logistic model's accuracy is per row (every output right, as
/// scikit-learn's subset accuracy), its label accuracy per output; both as
/// `predict`'s probabilities give them.
#[test]
fn logistic_accuracy_is_per_row_and_label_accuracy_per_output() {
    let dir = scratch();
    let data = dir.join("tags.csv");
    write_csv(&data, 300, false, |x| {
        vec![(x[0] > 0.0) as u8 as f32, (x[1] > x[2]) as u8 as f32, (x[3] > 0.5) as u8 as f32]
    });
    let model = dir.join("tags.safetensors");
    let train = ["train", "--head", "logistic", "--targets", "3", "--hidden", "4", "--epochs", "2", "--quiet"];
    run(bin().args(train).arg("--data").arg(&data).arg("--out").arg(&model));
    let json = stdout(&run(bin().args(["eval", "--json", "--model"]).arg(&model).arg("--data").arg(&data)));
    let pred = stdout(&run(bin().args(["predict", "--model"]).arg(&model).arg("--data").arg(&data)));
    assert_eq!(pred.lines().next(), Some("y0,y1,y2,p_y0,p_y1,p_y2"));
    let text = std::fs::read_to_string(&data).unwrap();
    let (mut rows_right, mut outputs_right) = (0, 0);
    for (p, row) in pred.lines().skip(1).zip(text.lines()) {
        let t: Vec<f32> = row.split(',').skip(4).map(|c| c.parse().unwrap()).collect();
        // Three thresholded labels, then their probabilities.
        let cells: Vec<f32> = p.split(',').map(|c| c.parse().unwrap()).collect();
        let (labels, y) = cells.split_at(3);
        assert!(labels.iter().zip(y).all(|(l, p)| *l == f32::from(u8::from(*p > 0.5))), "{p}");
        let right = y.iter().zip(&t).filter(|(y, t)| (**y > 0.5) == (**t > 0.5)).count();
        outputs_right += right;
        rows_right += (right == 3) as usize;
    }
    let (subset, labels) = (rows_right as f64 / 300.0, outputs_right as f64 / 900.0);
    assert!(subset < labels, "the data should tell them apart: {subset} {labels}");
    assert!((json_field(&json, "accuracy").unwrap() - subset).abs() < 1e-9, "{json} vs {subset}");
    assert!((json_field(&json, "label_accuracy").unwrap() - labels).abs() < 1e-9, "{json} vs {labels}");
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data").join(name)
}

/// A label-first CSV with text labels: the target chosen by name or
/// position, the classes sorted and kept in the model, `predict` naming
/// them and `eval` reading the labels (by the model's target name) as
/// training did; a semicolon copy of the file, sniffed, trains the same
/// model.
#[test]
fn text_labels_anywhere_in_the_row_by_name_or_position() {
    let dir = scratch();
    let iris = example("iris.csv");
    let semi = dir.join("iris-semicolon.csv");
    std::fs::write(&semi, std::fs::read_to_string(&iris).unwrap().replace(',', ";")).unwrap();
    let train = |data: &Path, target: &str, out: &str| {
        let args = ["train", "--hidden", "8", "--epochs", "3", "--batch-size", "16", "--quiet", "--target", target];
        run(bin().args(args).arg("--data").arg(data).arg("--out").arg(dir.join(out)));
        crate::common::model_content(&dir.join(out))
    };
    let by_name = train(&iris, "species", "a.safetensors");
    assert!(by_name == train(&iris, "1", "b.safetensors"), "--target 1 and --target species differ");
    assert!(by_name == train(&semi, "species", "c.safetensors"), "the semicolon file trains another model");
    let model = dir.join("a.safetensors");
    let pred = stdout(&run(bin().args(["predict", "--model"]).arg(&model).arg("--data").arg(&iris)));
    let mut lines = pred.lines();
    assert_eq!(lines.next(), Some("class,setosa,versicolor,virginica"));
    let text = std::fs::read_to_string(&iris).unwrap();
    let rows: Vec<(&str, &str)> = lines.zip(text.lines().skip(1)).collect();
    assert_eq!(rows.len(), 150);
    let right = rows.iter().filter(|(p, row)| p.split(',').next() == row.split(',').next()).count();
    assert!(rows.iter().all(|(p, _)| ["setosa", "versicolor", "virginica"].contains(&p.split(',').next().unwrap())));
    // Probabilities in shortest round-trip form (3.4e-6, not 0.0000034).
    for cell in rows.iter().flat_map(|(p, _)| p.split(',').skip(1)) {
        let v: f32 = cell.parse().unwrap();
        assert!(format!("{v:?}") == cell && cell.len() <= 16, "{cell}");
    }
    let json = stdout(&run(bin().args(["eval", "--json", "--model"]).arg(&model).arg("--data").arg(&iris)));
    assert!((json_field(&json, "accuracy").unwrap() - right as f64 / 150.0).abs() < 1e-9, "{json} vs {right}/150");
    // A label the model does not know is an error naming its row.
    let odd = dir.join("odd.csv");
    let header = "species,sepal_length,sepal_width,petal_length,petal_width";
    std::fs::write(&odd, format!("{header}\nsetosa,1,2,3,4\ndaisy,1,2,3,4\n")).unwrap();
    let o = bin().args(["eval", "--model"]).arg(&model).arg("--data").arg(&odd).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.code() == Some(1) && err.contains("line 3, column 1") && err.contains("daisy"), "{err}");
}

/// A run starts with a summary on standard error: the data, what is held
/// out (or that nothing is), the network and the threads.
#[test]
fn a_run_starts_with_a_summary_on_stderr() {
    let dir = scratch();
    let iris = example("iris.csv");
    let o = run(bin()
        .args(["train", "--target", "species", "--hidden", "8", "--epochs", "1", "--threads", "1", "--data"])
        .arg(&iris)
        .arg("--out")
        .arg(dir.join("m.safetensors")));
    let err = String::from_utf8_lossy(&o.stderr);
    for needle in [
        "data: 150 rows × 4 features",
        "3 classes (setosa, versicolor, virginica)",
        "held out: none",
        "network: 4-8-3, sigmoid hidden, softmax head, 67 parameters",
        "1 thread, SIMD ",
    ] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
    assert!(!stdout(&o).contains("data:"), "the summary is on stderr");
    let o = run(bin()
        .args(["train", "--val-split", "0.2", "--target", "species", "--epochs", "1", "--data"])
        .arg(&iris)
        .arg("--out")
        .arg(dir.join("v.safetensors")));
    assert!(String::from_utf8_lossy(&o.stderr).contains("held out: 30 rows (0.2 of the data, seeded)"));
}

/// `predict` on IDX images with no labels file beside them.
#[test]
fn predict_reads_idx_images_without_labels() {
    let dir = scratch();
    let data = dir.join("d.csv");
    write_csv(&data, 50, false, |x| vec![(x[0] > 0.0) as u8 as f32]);
    let model = dir.join("m.safetensors");
    run(bin().args(["train", "--epochs", "1", "--quiet", "--data"]).arg(&data).arg("--out").arg(&model));
    let images = dir.join("new-images-idx3-ubyte");
    std::fs::write(&images, common::cli::idx_images(3, 2, 12)).unwrap();
    let pred = stdout(&run(bin().args(["predict", "--model"]).arg(&model).arg("--data").arg(&images)));
    assert_eq!(pred.lines().count(), 4, "a header and one line per image: {pred}");
    // eval needs the labels, and says where it looked.
    let o = bin().args(["eval", "--model"]).arg(&model).arg("--data").arg(&images).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("new-labels-idx1-ubyte"), "{o:?}");
}
