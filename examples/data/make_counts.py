"""Writes counts.csv: a seeded count-regression set (400 rows): a day's
temperature (°C), wind (m/s) and a holiday flag, and the day's rentals,
drawn from a Poisson law whose log-rate is linear in them,
log λ = 1 + 0.08·temp - 0.15·wind - 0.4·holiday.

    python3 examples/data/make_counts.py > examples/data/counts.csv
"""
import math
import random

rng = random.Random(7)


def poisson(lam):
    """Knuth's sampler: multiply uniforms until the product falls below e^-λ."""
    limit, p, k = math.exp(-lam), 1.0, 0
    while True:
        p *= rng.random()
        if p < limit:
            return k
        k += 1


print("temp,wind,holiday,rentals")
for _ in range(400):
    temp, wind, holiday = rng.uniform(-5, 30), rng.uniform(0, 12), int(rng.random() < 0.15)
    lam = math.exp(1 + 0.08 * temp - 0.15 * wind - 0.4 * holiday)
    print(f"{temp:.1f},{wind:.1f},{holiday},{poisson(lam)}")
