//! The optimizers: every path against the scalar twin (exactly), the rules
//! against an f64 reference written from PyTorch's documented updates, and
//! against trajectories PyTorch itself produced (tests/fixtures/torch_optim.py).

use backprop::kernels::{AdamStep, Kernels, Rewrite, SgdStep, SimdPath};
use backprop::optim::{Adam, AdamW, Optimizer, Sgd, Slots, UpdateStep};

const N: usize = 37;
const STEPS: u64 = 5;

fn p0() -> Vec<f32> {
    (0..N).map(|i| (((37 * i) % 101) as f32 - 50.0) / 64.0).collect()
}

fn grad(t: u64) -> Vec<f32> {
    (0..N).map(|i| (((13 * i + 7 * t as usize) % 97) as f32 - 48.0) / 128.0).collect()
}

fn run(opt: &dyn Optimizer, lr: f64) -> Vec<f32> {
    let mut p = p0();
    let mut m = vec![0.0; if opt.slots() > 0 { N } else { 0 }];
    let mut v = vec![0.0; if opt.slots() > 1 { N } else { 0 }];
    for t in 1..=STEPS {
        opt.update(&mut p, &grad(t), Slots { m: &mut m, v: &mut v }, UpdateStep { lr, step: t, grad_scale: 1.0 })
            .unwrap();
    }
    p
}

/// Distance in units in the last place.
fn ulps(a: f32, b: f32) -> u32 {
    let key = |x: f32| {
        let b = x.to_bits() as i64;
        if b < 0x8000_0000 {
            b
        } else {
            0x8000_0000 - b
        }
    };
    (key(a) - key(b)).unsigned_abs() as u32
}

include!("../fixtures/torch_optim.rs");

fn optimizer(name: &str) -> (Box<dyn Optimizer>, f64) {
    match name {
        "sgd" => (Box::new(Sgd::default()), 0.1),
        "sgd_wd" => (Box::new(Sgd { weight_decay: 0.01, ..Sgd::default() }), 0.1),
        "sgd_momentum" => (Box::new(Sgd { momentum: 0.9, nesterov: false, weight_decay: 0.01 }), 0.1),
        "sgd_nesterov" => (Box::new(Sgd { momentum: 0.8, nesterov: true, weight_decay: 0.0 }), 0.05),
        "adam" => (Box::new(Adam::default()), 0.01),
        "adam_wd" => (Box::new(Adam { beta1: 0.8, beta2: 0.99, eps: 1e-6, weight_decay: 0.1 }), 0.003),
        "adamw" => (Box::new(AdamW::default()), 0.01),
        "adamw_wd" => (Box::new(AdamW { weight_decay: 0.3, ..AdamW::default() }), 0.02),
        _ => unreachable!(),
    }
}

/// Five steps of each rule land within 2 ulp (of the parameters' scale, 1.0)
/// of what PyTorch 2.15 computed; most values are equal to the bit. The rest
/// differ because PyTorch's CPU kernels fuse `w + α·g` into one FMA where
/// this crate rounds the product and the sum separately (on every path, so
/// that all paths agree with the scalar twin).
#[test]
fn trajectories_match_pytorch() {
    for (name, want) in TORCH {
        let (opt, lr) = optimizer(name);
        let got = run(&*opt, lr);
        for (i, (&g, &w)) in got.iter().zip(want.iter()).enumerate() {
            let w = f32::from_bits(w);
            // Parameters are O(1): 2 ulp of 1.0 is 2.4e-7.
            assert!((g - w).abs() <= 2.0 * f32::EPSILON, "{name}[{i}]: {g:e} vs PyTorch {w:e} ({} ulp)", ulps(g, w));
        }
    }
}

/// The formulas in f64, from PyTorch's documentation of SGD and Adam(W).
fn reference(name: &str) -> Vec<f64> {
    let (mom, nest, wd, adam, decoupled, lr, b1, b2, eps) = match name {
        "sgd_momentum" => (0.9, false, 0.01, false, false, 0.1, 0.0, 0.0, 0.0),
        "sgd_nesterov" => (0.8, true, 0.0, false, false, 0.05, 0.0, 0.0, 0.0),
        "adam_wd" => (0.0, false, 0.1, true, false, 0.003, 0.8, 0.99, 1e-6),
        "adamw_wd" => (0.0, false, 0.3, true, true, 0.02, 0.9, 0.999, 1e-8),
        _ => unreachable!(),
    };
    let mut p: Vec<f64> = p0().iter().map(|&x| x as f64).collect();
    let (mut m, mut v) = (vec![0.0; N], vec![0.0; N]);
    for t in 1..=STEPS {
        for (i, g) in grad(t).iter().map(|&g| g as f64).enumerate() {
            let mut g = if decoupled { g } else { g + wd * p[i] };
            if !adam {
                m[i] = if t == 1 { g } else { mom * m[i] + g };
                g = if nest { g + mom * m[i] } else { m[i] };
                p[i] -= lr * g;
                continue;
            }
            if decoupled {
                p[i] *= 1.0 - lr * wd;
            }
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
            let (mh, vh) = (m[i] / (1.0 - b1.powi(t as i32)), v[i] / (1.0 - b2.powi(t as i32)));
            p[i] -= lr * mh / (vh.sqrt() + eps);
        }
    }
    p
}

#[test]
fn rules_match_an_f64_reference_over_five_steps() {
    for name in ["sgd_momentum", "sgd_nesterov", "adam_wd", "adamw_wd"] {
        let (opt, lr) = optimizer(name);
        let got = run(&*opt, lr);
        for (i, (&g, &r)) in got.iter().zip(&reference(name)).enumerate() {
            assert!((g as f64 - r).abs() <= 1e-5 * r.abs().max(1e-2), "{name}[{i}]: {g} vs f64 {r}");
        }
    }
}

/// Every path's fused update equals the scalar twin bit for bit, lengths
/// 0..=40, momentum buffers and moments included.
#[test]
fn every_path_equals_the_scalar_twin() {
    let scalar = Kernels::for_path(SimdPath::Scalar).unwrap();
    let sgd = SgdStep { lr: 0.1, momentum: 0.9, weight_decay: 0.01, nesterov: true, first: false, grad_scale: 0.75 };
    let adam = AdamStep {
        lr_bc1: 0.01,
        one_minus_beta1: 0.1,
        beta2: 0.999,
        one_minus_beta2: 0.001,
        bc2_sqrt: 0.3,
        eps: 1e-8,
        l2: 0.01,
        decay: 0.999,
        grad_scale: 0.5,
    };
    for k in SimdPath::ALL.into_iter().filter_map(Kernels::for_path) {
        for n in 0..=40 {
            let (w, g, s): (Vec<f32>, Vec<f32>, Vec<f32>) = (
                (0..n).map(|i| i as f32 * 0.1 - 1.0).collect(),
                (0..n).map(|i| (i * 7 % 5) as f32 - 2.0).collect(),
                (0..n).map(|i| i as f32 * 0.01).collect(),
            );
            for first in [true, false] {
                let p = SgdStep { first, ..sgd };
                let (mut w1, mut b1, mut w2, mut b2) = (w.clone(), s.clone(), w.clone(), s.clone());
                scalar.sgd_update(&mut w1, &g, &mut b1, p).unwrap();
                k.sgd_update(&mut w2, &g, &mut b2, p).unwrap();
                assert!(w1 == w2 && b1 == b2, "{:?} sgd n={n} first={first}", k.path());
            }
            let (mut w1, mut m1, mut v1) = (w.clone(), s.clone(), s.clone());
            let (mut w2, mut m2, mut v2) = (w.clone(), s.clone(), s.clone());
            scalar.adam_update(&mut w1, &g, [&mut m1, &mut v1], adam).unwrap();
            k.adam_update(&mut w2, &g, [&mut m2, &mut v2], adam).unwrap();
            assert!(w1 == w2 && m1 == m2 && v1 == v2, "{:?} adam n={n}", k.path());
            assert!((k.sum_squares(&g) - scalar.sum_squares(&g)).abs() <= 1e-12 * scalar.sum_squares(&g).max(1.0));
        }
    }
}

/// Out of place (`*_update_from`) every path writes the bits the scalar
/// twin writes in place, and leaves the old values as they were.
#[test]
fn every_path_updates_from_old_values_as_in_place() {
    let sgd = SgdStep { lr: 0.1, momentum: 0.9, weight_decay: 0.01, nesterov: false, first: false, grad_scale: 0.5 };
    let adam = AdamStep {
        lr_bc1: 0.02,
        one_minus_beta1: 0.1,
        beta2: 0.99,
        one_minus_beta2: 0.01,
        bc2_sqrt: 0.5,
        eps: 1e-8,
        l2: 0.0,
        decay: 0.99,
        grad_scale: 1.0,
    };
    let scalar = Kernels::for_path(SimdPath::Scalar).unwrap();
    for k in SimdPath::ALL.into_iter().filter_map(Kernels::for_path) {
        for n in [0, 1, 15, 16, 17, N] {
            let (w, g, s) = (p0()[..n].to_vec(), grad(3)[..n].to_vec(), grad(4)[..n].to_vec());
            let (mut w1, mut b1) = (w.clone(), s.clone());
            scalar.sgd_update(&mut w1, &g, &mut b1, sgd).unwrap();
            let (mut w2, mut b2) = (vec![f32::NAN; w.len()], vec![f32::NAN; w.len()]);
            k.sgd_update_from(Rewrite::from(&w, &mut w2), &g, Rewrite::from(&s, &mut b2), sgd).unwrap();
            assert!(w1 == w2 && b1 == b2, "{:?} sgd n={n}", k.path());

            let sq: Vec<f32> = g.iter().map(|x| x * x).collect(); // a second moment is ≥ 0
            let (mut w1, mut m1, mut v1) = (w.clone(), s.clone(), sq.clone());
            scalar.adam_update(&mut w1, &g, [&mut m1, &mut v1], adam).unwrap();
            let mut out = [vec![f32::NAN; w.len()], vec![f32::NAN; w.len()], vec![f32::NAN; w.len()]];
            let [w2, m2, v2] = &mut out;
            let slots = [Rewrite::from(&s, m2), Rewrite::from(&sq, v2)];
            k.adam_update_from(Rewrite::from(&w, w2), &g, slots, adam).unwrap();
            assert!(out == [w1, m1, v1], "{:?} adam n={n}", k.path());
        }
        assert!(w_len_error(&k), "{:?}: old values of another length", k.path());
    }
}

/// Old values of another length than the new are an error, not a panic.
fn w_len_error(k: &Kernels) -> bool {
    let (w, g) = (vec![1.0; 4], vec![1.0; 3]);
    let mut to = vec![0.0; 3];
    let p = SgdStep { lr: 0.1, momentum: 0.0, weight_decay: 0.0, nesterov: false, first: true, grad_scale: 1.0 };
    k.sgd_update_from(Rewrite::from(&w, &mut to), &g, Rewrite::in_place(&mut []), p).is_err()
}

#[test]
fn bad_hyperparameters_are_refused() {
    assert!(Sgd { momentum: 1.0, ..Sgd::default() }.validate().is_err());
    assert!(Sgd { nesterov: true, ..Sgd::default() }.validate().is_err());
    assert!(Sgd { weight_decay: -1.0, ..Sgd::default() }.validate().is_err());
    assert!(Adam { beta2: 1.0, ..Adam::default() }.validate().is_err());
    assert!(AdamW { eps: f64::NAN, ..AdamW::default() }.validate().is_err());
    assert!(Adam::default().validate().is_ok() && AdamW::default().validate().is_ok());
}
