"""Writes tags.csv: a seeded multi-label set (300 rows, 6 features in
[-1, 1], 3 tags of 0/1 each set by a rule on the features, 5 % flipped).

    python3 examples/data/make_tags.py > examples/data/tags.csv
"""
import random

rng = random.Random(12)
print("f1,f2,f3,f4,f5,f6,outdoor,night,people")
for _ in range(300):
    f = [rng.uniform(-1, 1) for _ in range(6)]
    tags = [f[0] + f[1] > 0, f[2] * f[3] > 0.1, f[4] - 0.5 * f[5] > 0.2]
    tags = [int(t) ^ (rng.random() < 0.05) for t in tags]
    print(",".join([f"{v:.4f}" for v in f] + [str(t) for t in tags]))
