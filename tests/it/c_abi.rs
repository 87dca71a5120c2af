//! The C ABI: the checked-in header matches the Rust declarations
//! (regenerated with cbindgen and compared), the C example compiles against
//! the static library and passes, and every function refuses bad arguments
//! with a status and a message instead of crashing.

use backprop::ffi::*;
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::{null, null_mut};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>`, where cargo left this test and the libraries.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

#[test]
fn the_header_matches_the_rust_declarations() {
    let config = cbindgen::Config::from_file(root().join("cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root())
        .with_config(config)
        .generate()
        .expect("cbindgen parses src/ffi/")
        .write(&mut generated);
    let path = root().join("include/backprop.h");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/backprop.h is out of date with src/ffi/; regenerate it with BLESS=1 cargo test --release --test it c_abi"
    );
}

/// Builds `libbackprop.a` for this profile: `cargo test` compiles the library
/// only as an rlib for the tests, so a clean clone has no static library yet,
/// and one left from an earlier build may be stale.
fn build_static_library() -> PathBuf {
    let dir = target_dir();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--lib", "--quiet", "--manifest-path"]).arg(root().join("Cargo.toml"));
    cmd.arg("--target-dir").arg(dir.parent().unwrap());
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "cargo build --lib failed: {}", String::from_utf8_lossy(&out.stderr));
    let lib = dir.join("libbackprop.a");
    assert!(lib.exists(), "{} was not built", lib.display());
    lib
}

/// Compiles the C program `source` (under the repository) against the
/// static library `lib` as `std`; returns the executable.
fn compile_c(source: &str, std: &str, lib: &Path) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("backprop-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join(Path::new(source).file_stem().unwrap());
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(cc)
        .args([&format!("-std={std}"), "-Wall", "-Wextra", "-Werror"])
        .arg(root().join(source))
        .arg("-I")
        .arg(root().join("include"))
        .arg(lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe)
        .output()
        .unwrap();
    assert!(out.status.success(), "cc {source} failed: {}", String::from_utf8_lossy(&out.stderr));
    exe
}

#[test]
fn the_c_example_builds_against_the_static_library_and_passes() {
    let lib = build_static_library();
    let exe = compile_c("examples/c/xor.c", "c99", &lib);
    let dir = exe.parent().unwrap();
    let run = Command::new(&exe).arg(dir.join("xor.safetensors")).output().unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success() && text.trim_end().ends_with("ok"), "{text}{}", String::from_utf8_lossy(&run.stderr));
    assert!(text.contains("(4/4)"), "{text}");
}

/// Train on one thread, serve on another (tests/c/serve_while_training.c):
/// predictions on a lent model while its trainer steps wait for the step,
/// so each is whole, and the last equals the returned model's. `.ci/tsan`
/// runs the same program under ThreadSanitizer.
#[test]
fn a_model_serves_predictions_on_one_thread_while_another_trains_it() {
    let lib = build_static_library();
    let exe = compile_c("tests/c/serve_while_training.c", "c11", &lib);
    let run = Command::new(&exe).output().unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success() && text.trim_end().ends_with("ok"), "{text}{}", String::from_utf8_lossy(&run.stderr));
}

fn last_error() -> String {
    // SAFETY: bp_last_error returns a NUL-terminated string owned by the
    // library, valid until the next failing call on this thread.
    unsafe { CStr::from_ptr(bp_last_error()) }.to_string_lossy().into_owned()
}

#[test]
fn bad_arguments_are_codes_and_messages() {
    use bp_status::*;
    // SAFETY: every pointer passed is NULL (which the functions must refuse)
    // or points to live storage of the documented size; handles are freed
    // once.
    unsafe {
        let sizes = [3usize, 4, 2];
        let mut m = null_mut();
        assert_eq!(bp_model_new(null(), 3, 0, 0, 1, &mut m), BP_ERR_INVALID_ARGUMENT);
        assert!(last_error().contains("sizes"));
        assert_eq!(bp_model_new(sizes.as_ptr(), 1, 0, 0, 1, &mut m), BP_ERR_INVALID_ARGUMENT);
        assert_eq!(bp_model_new(sizes.as_ptr(), 3, 7, 0, 1, &mut m), BP_ERR_INVALID_ARGUMENT);
        assert!(last_error().contains("activation"), "{}", last_error());
        assert_eq!(bp_model_new(sizes.as_ptr(), 3, 0, -1, 1, &mut m), BP_ERR_INVALID_ARGUMENT);
        assert_eq!(bp_model_new([3usize, 0, 2].as_ptr(), 3, 0, 0, 1, &mut m), BP_ERR_INVALID_ARGUMENT);
        assert_eq!(bp_model_new(sizes.as_ptr(), 3, 0, 0, 1, null_mut()), BP_ERR_INVALID_ARGUMENT);
        assert_eq!(bp_model_new(sizes.as_ptr(), 3, 0, 0, 1, &mut m), BP_OK);
        assert_eq!((bp_model_inputs(m), bp_model_outputs(m), bp_model_inputs(null())), (3, 2, 0));
        let mut got = [0usize; 3];
        assert_eq!(bp_model_layer_sizes(m, got.as_mut_ptr(), 3), 3);
        assert_eq!(got, sizes);

        let x = [0.5f32; 6];
        let mut y = [0f32; 4];
        assert_eq!(bp_model_predict(m, x.as_ptr(), 0, y.as_mut_ptr()), BP_ERR_INVALID_ARGUMENT);
        assert_eq!(bp_model_predict(m, x.as_ptr(), usize::MAX / 2, y.as_mut_ptr()), BP_ERR_INVALID_ARGUMENT);
        assert!(last_error().contains("overflows"), "{}", last_error());
        assert_eq!(bp_model_predict(m, null(), 2, y.as_mut_ptr()), BP_ERR_INVALID_ARGUMENT);
        assert_eq!(bp_model_predict(m, x.as_ptr(), 2, y.as_mut_ptr()), BP_OK);
        assert!((y[0] + y[1] - 1.0).abs() < 1e-6, "softmax rows sum to 1");
        // In place: y would alias x. Refused, and y is left alone.
        let mut xy = [0.5f32; 6];
        let p = xy.as_mut_ptr();
        assert_eq!(bp_model_predict(m, p, 2, p.add(2)), BP_ERR_INVALID_ARGUMENT);
        assert!(last_error().contains("overlap"), "{}", last_error());
        assert_eq!(xy, [0.5; 6]);
        assert_eq!(bp_model_predict(m, p, 1, p.add(3)), BP_OK, "adjacent ranges do not overlap");

        let mut c = std::mem::zeroed::<bp_train_config>();
        let mut tr = null_mut();
        assert_eq!(bp_trainer_new(m, &c, &mut tr), BP_ERR_INVALID_ARGUMENT);
        assert!(last_error().contains("struct_size"), "{}", last_error());
        bp_train_config_default(&mut c);
        bp_train_config_default(null_mut());
        c.struct_size += 8;
        assert_eq!(bp_trainer_new(m, &c, &mut tr), BP_ERR_INVALID_ARGUMENT);
        bp_train_config_default(&mut c);
        c.optimizer = 9;
        assert_eq!(bp_trainer_new(m, &c, &mut tr), BP_ERR_INVALID_ARGUMENT);
        c.optimizer = bp_optimizer::BP_OPTIMIZER_ADAM as i32;
        c.momentum = 0.9;
        assert_eq!(bp_trainer_new(m, &c, &mut tr), BP_ERR_INVALID_ARGUMENT);
        c.momentum = 0.0;
        c.lr = f32::NAN;
        assert_eq!(bp_trainer_new(m, &c, &mut tr), BP_ERR_INVALID_ARGUMENT);
        c.lr = 0.01;
        c.batch_size = 2;
        assert_eq!(bp_trainer_new(m, &c, &mut tr), BP_OK);
        let mut second = null_mut();
        assert_eq!(bp_trainer_new(m, &c, &mut second), BP_ERR_INVALID_ARGUMENT, "one trainer per model");

        let t = [1f32, 0., 0., 1.];
        let mut loss = 0f32;
        let mut xl = x;
        let inside = xl.as_mut_ptr().add(5);
        assert_eq!(bp_trainer_step(tr, xl.as_ptr(), t.as_ptr(), 2, inside), BP_ERR_INVALID_ARGUMENT, "loss inside x");
        assert_eq!(bp_trainer_step(tr, x.as_ptr(), t.as_ptr(), 3, &mut loss), BP_ERR_SHAPE, "more rows than the batch");
        assert_eq!(bp_trainer_step(tr, x.as_ptr(), null(), 2, &mut loss), BP_ERR_INVALID_ARGUMENT);
        let nan = [f32::NAN; 6];
        assert_eq!(bp_trainer_step(tr, nan.as_ptr(), t.as_ptr(), 2, &mut loss), BP_ERR_NUMERIC);
        let before = {
            bp_model_predict(m, x.as_ptr(), 2, y.as_mut_ptr());
            y
        };
        // Row weights: NULL, a negative or NaN weight and a loss inside
        // them are refused; a weight of 0 for each row changes nothing.
        let (w, mut wl) = ([1f32, 3.0], [1f32, -1.0]);
        assert_eq!(bp_trainer_step_weighted(tr, x.as_ptr(), t.as_ptr(), null(), 2, &mut loss), BP_ERR_INVALID_ARGUMENT);
        assert_eq!(
            bp_trainer_step_weighted(tr, x.as_ptr(), t.as_ptr(), wl.as_ptr(), 2, &mut loss),
            BP_ERR_INVALID_ARGUMENT
        );
        assert!(last_error().contains("weight -1"), "{}", last_error());
        wl[1] = f32::NAN;
        assert_eq!(
            bp_trainer_step_weighted(tr, x.as_ptr(), t.as_ptr(), wl.as_ptr(), 2, &mut loss),
            BP_ERR_INVALID_ARGUMENT
        );
        let p = wl.as_mut_ptr();
        assert_eq!(bp_trainer_step_weighted(tr, x.as_ptr(), t.as_ptr(), p, 2, p.add(1)), BP_ERR_INVALID_ARGUMENT);
        assert_eq!(bp_trainer_step_weighted(tr, x.as_ptr(), t.as_ptr(), [0f32; 2].as_ptr(), 2, &mut loss), BP_OK);
        assert_eq!(loss, 0.0);
        assert_eq!(bp_model_predict(m, x.as_ptr(), 2, y.as_mut_ptr()), BP_OK);
        assert_eq!(before, y, "a batch of no weight leaves the model as it was");
        assert_eq!(bp_trainer_step_weighted(tr, x.as_ptr(), t.as_ptr(), w.as_ptr(), 2, &mut loss), BP_OK);
        assert!(loss.is_finite() && loss > 0.0);
        assert_eq!(bp_trainer_step(tr, x.as_ptr(), t.as_ptr(), 2, &mut loss), BP_OK);
        assert!(loss.is_finite() && loss > 0.0);
        // The model sees the trainer's updates.
        assert_eq!(bp_model_predict(m, x.as_ptr(), 2, y.as_mut_ptr()), BP_OK);
        assert_ne!(before, y);
        bp_trainer_free(tr);

        let dir = std::env::temp_dir().join(format!("backprop-ffi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = CString::new(dir.join("m.safetensors").to_str().unwrap()).unwrap();
        assert_eq!(bp_model_save(m, path.as_ptr()), BP_OK);
        assert_eq!(bp_model_save(m, null()), BP_ERR_INVALID_ARGUMENT);
        let mut back = null_mut();
        assert_eq!(bp_model_load(path.as_ptr(), &mut back), BP_OK);
        let mut z = [0f32; 4];
        assert_eq!(bp_model_predict(back, x.as_ptr(), 2, z.as_mut_ptr()), BP_OK);
        assert_eq!(y, z, "the reloaded model predicts the same");
        let missing = CString::new("/no/such/dir/m.safetensors").unwrap();
        assert_eq!(bp_model_load(missing.as_ptr(), &mut back), BP_ERR_IO);
        std::fs::write(dir.join("junk"), b"junk").unwrap();
        let junk = CString::new(dir.join("junk").to_str().unwrap()).unwrap();
        assert_eq!(bp_model_load(junk.as_ptr(), &mut back), BP_ERR_FORMAT);

        // Freeing the model before its trainer does not crash: the model
        // goes with the trainer.
        let mut tr2 = null_mut();
        assert_eq!(bp_trainer_new(m, &c, &mut tr2), BP_OK);
        bp_model_free(m);
        assert_eq!(bp_trainer_step(tr2, x.as_ptr(), t.as_ptr(), 2, &mut loss), BP_OK);
        bp_trainer_free(tr2);
        bp_model_free(null_mut());
        bp_trainer_free(null_mut());
        assert!(CStr::from_ptr(bp_version()).to_str().unwrap().starts_with(env!("CARGO_PKG_VERSION")));
    }
}

/// bf16 across the C ABI: a trainer config and a model's predictions take
/// `BP_PRECISION_BF16` (the library's bf16 bits: the same as a `Predictor`
/// and a `Trainer` in bf16), and an unknown precision is an error.
#[test]
fn precision_crosses_the_c_abi() {
    use backprop::{Head, Mlp, Precision, Predictor, TrainConfig, Trainer};
    use bp_status::*;
    let mlp = Mlp::builder().input(30).hidden(40).head(Head::Softmax, 3).seed(4).build().unwrap();
    let x: Vec<f32> = (0..4 * 30).map(|i| ((i * 37) % 19) as f32 / 7.0 - 1.3).collect();
    let t: Vec<f32> = (0..4 * 3).map(|i| if i % 3 == i / 3 % 3 { 1.0 } else { 0.0 }).collect();
    let mut want = vec![0f32; 12];
    Predictor::with_precision(&mlp, 1, Precision::Bf16).unwrap().predict(&x, 4, &mut want).unwrap();
    let mut fp32 = vec![0f32; 12];
    mlp.predict(&x, 4, &mut fp32).unwrap();
    assert_ne!(want, fp32, "bf16 changes the outputs");
    let config =
        TrainConfig { batch_size: 4, threads: 1, lr: 0.5, precision: Precision::Bf16, ..TrainConfig::default() };
    let mut tr = Trainer::new(mlp.clone(), config).unwrap();
    tr.step(&x, &t, 4).unwrap();
    let trained = tr.into_mlp();
    let dir = std::env::temp_dir().join(format!("backprop-ffi-bf16-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("m.safetensors");
    mlp.save(&file).unwrap();
    let path = CString::new(file.to_str().unwrap()).unwrap();
    // SAFETY: every pointer is live storage of the documented size; the
    // handles are freed once.
    unsafe {
        let mut m = null_mut();
        assert_eq!(bp_model_load(path.as_ptr(), &mut m), BP_OK);
        assert_eq!(bp_model_set_precision(m, 7), BP_ERR_INVALID_ARGUMENT);
        assert!(last_error().contains("precision 7"), "{}", last_error());
        assert_eq!(bp_model_set_precision(null_mut(), 1), BP_ERR_INVALID_ARGUMENT);
        assert_eq!(bp_model_set_precision(m, bp_precision::BP_PRECISION_BF16 as i32), BP_OK);
        let mut y = [0f32; 12];
        assert_eq!(bp_model_predict(m, x.as_ptr(), 4, y.as_mut_ptr()), BP_OK);
        assert_eq!(y.to_vec(), want, "bp_model_predict in bf16");
        let mut c = std::mem::zeroed::<bp_train_config>();
        bp_train_config_default(&mut c);
        assert_eq!(c.precision, bp_precision::BP_PRECISION_FP32 as i32);
        (c.batch_size, c.threads, c.lr) = (4, 1, 0.5);
        let mut tr = null_mut();
        c.precision = -1;
        assert_eq!(bp_trainer_new(m, &c, &mut tr), BP_ERR_INVALID_ARGUMENT);
        c.precision = bp_precision::BP_PRECISION_BF16 as i32;
        assert_eq!(bp_trainer_new(m, &c, &mut tr), BP_OK);
        let mut loss = 0f32;
        assert_eq!(bp_trainer_step(tr, x.as_ptr(), t.as_ptr(), 4, &mut loss), BP_OK);
        bp_trainer_free(tr);
        let out = CString::new(dir.join("after.safetensors").to_str().unwrap()).unwrap();
        assert_eq!(bp_model_save(m, out.as_ptr()), BP_OK);
        bp_model_free(m);
        let back = Mlp::load(&dir.join("after.safetensors")).unwrap();
        assert!(back.params() == trained.params(), "the C trainer's bf16 step is the library's");
    }
}

#[test]
fn the_last_error_is_per_thread() {
    // SAFETY: `sizes` is NULL, which bp_model_new must refuse; `m` is
    // writable storage for a pointer.
    unsafe {
        let mut m = null_mut();
        assert_eq!(bp_model_new(null(), 3, 0, 0, 1, &mut m), bp_status::BP_ERR_INVALID_ARGUMENT);
        let other = std::thread::spawn(last_error).join().unwrap();
        assert_eq!(other, "", "another thread has no failure of its own");
        assert!(!last_error().is_empty());
    }
}

#[test]
fn raw_cells_cross_the_c_abi() {
    use backprop::data::encoding::{InputColumn, Kind, Unknown};
    use backprop::data::Encoding;
    use backprop::{Head, Mlp, Predictor};
    use bp_status::*;
    let enc = Encoding {
        columns: vec![
            InputColumn {
                name: "colour".into(),
                kind: Kind::Categorical { categories: vec!["blue".into(), "red".into()], fill: None },
            },
            InputColumn { name: "size".into(), kind: Kind::Numeric { fill: Some(2.5) } },
        ],
        unknown: Unknown::Error,
    };
    let mlp = Mlp::builder().input(3).hidden(5).head(Head::Softmax, 2).seed(9).build().unwrap();
    let mlp = mlp.with_encoding(Some(enc)).unwrap();
    let dir = std::env::temp_dir().join(format!("backprop-ffi-cells-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    mlp.save(&dir.join("m.safetensors")).unwrap();
    // The same rows as inputs: red 1.5, blue with the size missing (2.5).
    let mut want = [0f32; 4];
    mlp.predict(&[0.0, 1.0, 1.5, 1.0, 0.0, 2.5], 2, &mut want).unwrap();
    let mut p = Predictor::with_threads(&Mlp::load(&dir.join("m.safetensors")).unwrap(), 1).unwrap();
    let mut lib = [0f32; 4];
    p.predict_cells(&["red", "1.5", "blue", "NA"], 2, &mut lib).unwrap();
    assert_eq!(lib, want, "predict_cells encodes as the model says");
    let cells: Vec<CString> = ["red", "1.5", "blue", ""].iter().map(|s| CString::new(*s).unwrap()).collect();
    let ptrs: Vec<*const std::ffi::c_char> = cells.iter().map(|c| c.as_ptr()).collect();
    let path = CString::new(dir.join("m.safetensors").to_str().unwrap()).unwrap();
    // SAFETY: every pointer is live storage of the documented size; the
    // handle is freed once.
    unsafe {
        let mut m = null_mut();
        assert_eq!(bp_model_load(path.as_ptr(), &mut m), BP_OK);
        assert_eq!(bp_model_columns(m), 2);
        assert_eq!(bp_model_inputs(m), 3);
        let mut y = [0f32; 4];
        assert_eq!(bp_model_predict_cells(m, ptrs.as_ptr(), 2, y.as_mut_ptr()), BP_OK);
        assert_eq!(y, want, "bp_model_predict_cells");
        let bad: Vec<CString> = ["green", "1"].iter().map(|s| CString::new(*s).unwrap()).collect();
        let bad: Vec<*const std::ffi::c_char> = bad.iter().map(|c| c.as_ptr()).collect();
        assert_eq!(bp_model_predict_cells(m, bad.as_ptr(), 1, y.as_mut_ptr()), BP_ERR_INVALID_ARGUMENT);
        let e = last_error();
        assert!(e.contains("row 1, column 1 (\"colour\")") && e.contains("\"green\" was not seen in training"), "{e}");
        assert_eq!(bp_model_predict_cells(m, null(), 1, y.as_mut_ptr()), BP_ERR_INVALID_ARGUMENT);
        assert_eq!(bp_model_columns(null()), 0);
        bp_model_free(m);
    }
}
