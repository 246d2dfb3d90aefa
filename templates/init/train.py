"""Training entry point: fits y = w*x + b by gradient descent and logs it to MLflow.

Replace the body with your own training; keep logging through mlflow so every run is
recorded under the branch's experiment.
"""

import argparse
import random

import mlflow


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alpha", type=float, default=0.1, help="learning rate")
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()

    rng = random.Random(0)
    xs = [rng.uniform(-1, 1) for _ in range(200)]
    ys = [3.0 * x + 0.5 + rng.gauss(0, 0.1) for x in xs]

    w, b = 0.0, 0.0
    for epoch in range(args.epochs):
        grad_w = sum(2 * (w * x + b - y) * x for x, y in zip(xs, ys)) / len(xs)
        grad_b = sum(2 * (w * x + b - y) for x, y in zip(xs, ys)) / len(xs)
        w -= args.alpha * grad_w
        b -= args.alpha * grad_b
        mse = sum((w * x + b - y) ** 2 for x, y in zip(xs, ys)) / len(xs)
        mlflow.log_metric("mse", mse, step=epoch)

    mlflow.log_params({"alpha": args.alpha, "epochs": args.epochs})
    mlflow.log_metrics({"w": w, "b": b})
    print(f"w={w:.3f} b={b:.3f} mse={mse:.4f}")


if __name__ == "__main__":
    main()
