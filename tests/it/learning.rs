//! Learning works: XOR to 100% and a synthetic 3-class problem that no
//! linear model separates (three concentric rings) to ≥ 99% training
//! accuracy.

use backprop::rng::Rng;
use backprop::{Activation, Head, Mlp, TrainConfig, Trainer};

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold(0, |b, (i, &x)| if x > v[b] { i } else { b })
}

#[test]
fn xor_reaches_100_percent_with_every_head() {
    let x = [0., 0., 0., 1., 1., 0., 1., 1.];
    for head in Head::ALL {
        let (outputs, t): (usize, Vec<f32>) = match head {
            Head::Softmax => (2, vec![1., 0., 0., 1., 0., 1., 1., 0.]),
            _ => (1, vec![0., 1., 1., 0.]),
        };
        let mlp = Mlp::builder().input(2).hidden(8).head(head, outputs).seed(3).build().unwrap();
        // Squared error has no saturating head, so it takes a smaller step.
        let lr = if head == Head::Linear { 0.5 } else { 2.0 };
        let config = TrainConfig { batch_size: 4, threads: 1, lr, ..TrainConfig::default() };
        let mut tr = Trainer::new(mlp, config).unwrap();
        for _ in 0..3000 {
            tr.step(&x, &t, 4).unwrap();
        }
        let mut y = vec![0.0; 4 * outputs];
        tr.mlp().predict(&x, 4, &mut y).unwrap();
        let want = [0, 1, 1, 0];
        for r in 0..4 {
            let class = match head {
                Head::Softmax => argmax(&y[r * 2..r * 2 + 2]),
                _ => (y[r] > 0.5) as usize,
            };
            assert_eq!(class, want[r], "{head}: XOR row {r} gives {:?}", &y[r * outputs..(r + 1) * outputs]);
        }
    }
}

/// Points in the plane, class k on the ring of radius k + 1 (±0.3).
fn rings(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let (mut x, mut t, mut labels) = (vec![], vec![0.0; n * 3], vec![]);
    for r in 0..n {
        let k = r % 3;
        let radius = k as f32 + 1.0 + rng.uniform(-0.3, 0.3);
        let angle = rng.uniform(0.0, std::f32::consts::TAU);
        x.extend([radius * angle.cos() / 3.0, radius * angle.sin() / 3.0]);
        t[r * 3 + k] = 1.0;
        labels.push(k);
    }
    (x, t, labels)
}

#[test]
fn three_rings_reach_99_percent_training_accuracy() {
    let n = 600;
    let (x, t, labels) = rings(n, 9);
    let mlp = Mlp::builder().input(2).hidden(32).hidden(32).activation(Activation::Tanh).head(Head::Softmax, 3).seed(4);
    let config = TrainConfig { batch_size: 30, threads: 2, lr: 0.3, ..TrainConfig::default() };
    let mut tr = Trainer::new(mlp.build().unwrap(), config).unwrap();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng::new(1);
    let (mut bx, mut bt) = (vec![0.0; 30 * 2], vec![0.0; 30 * 3]);
    for _epoch in 0..150 {
        rng.shuffle(&mut order);
        for batch in order.chunks(30) {
            for (i, &r) in batch.iter().enumerate() {
                bx[i * 2..i * 2 + 2].copy_from_slice(&x[r * 2..r * 2 + 2]);
                bt[i * 3..i * 3 + 3].copy_from_slice(&t[r * 3..r * 3 + 3]);
            }
            tr.step(&bx, &bt, batch.len()).unwrap();
        }
    }
    let mut y = vec![0.0; n * 3];
    tr.mlp().predict(&x, n, &mut y).unwrap();
    let correct = (0..n).filter(|&r| argmax(&y[r * 3..r * 3 + 3]) == labels[r]).count();
    let acc = correct as f64 / n as f64;
    assert!(acc >= 0.99, "training accuracy {acc}");
}
