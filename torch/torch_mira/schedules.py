"""Per-step schedules of the playground's recipe (src/mira/schedule.ts): linear warm-up then cosine
learning rate, β from beta_start to beta_end on a cosine, EMA momentum from ema_start to 1 on a
cosine. `step` counts from 0 over `total` steps."""
import math


def cosine_ramp(start, end, step, total):
    if total <= 0:
        return end
    t = min(max(step / total, 0.0), 1.0)
    return end - (end - start) * (math.cos(math.pi * t) + 1) / 2


def learning_rate(base, warmup_steps, total_steps, step, minimum=0.0):
    """Warm-up from base/warmup to base (never 0: step 0 already moves), then cosine to `minimum`."""
    if step < warmup_steps:
        return base * (step + 1) / warmup_steps
    return cosine_ramp(base, minimum, step - warmup_steps, max(1, total_steps - warmup_steps))


def schedule_at(tc, step):
    """lr, β and EMA momentum at `step` for a TrainConfig (camelCase keys)."""
    return {
        "lr": learning_rate(tc["lr"], tc["warmupSteps"], tc["steps"], step),
        "beta": cosine_ramp(tc["betaStart"], tc["betaEnd"], step, tc["steps"]),
        "ema": cosine_ramp(tc["emaStart"], 1.0, step, tc["steps"]),
    }
