"""Adam with global-norm clipping of the all-reduced gradient, for ``tf.distribute`` custom loops.

Why not ``keras.optimizers.Adam(global_clipnorm=...)``: under a distribution strategy Keras 3
clips each replica's *local* gradient and all-reduces afterwards, so the clipped update depends
on the number of replicas. Here the caller all-reduces once, :meth:`ClippedAdam.apply` clips the
global gradient (the same on every replica) and updates every replica's copy of the variables
through ``merge_call`` + ``extended.update`` — the same arithmetic on 1 or N devices.

Update (Kingma & Ba 2015, as TensorFlow 1's ``AdamOptimizer`` that the paper used), with the
clipped gradient g and t the number of applied updates::

    m ← β1 m + (1 − β1) g,    v ← β2 v + (1 − β2) g²
    θ ← θ − lr √(1 − β2ᵗ) / (1 − β1ᵗ) · m / (√v + ε)

A step whose gradient is not finite (float16 overflow, a bad example) is skipped: nothing
changes but :attr:`ClippedAdam.skipped`. With float16 mixed precision, dynamic loss scaling
(:class:`LossScale`) uses the same flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

__all__ = ["ClippedAdam", "LossScale", "unwrap_variable"]

#: Loss scaling (float16): initial scale, growth after this many finite steps, factor.
INITIAL_LOSS_SCALE = 2.0**15
LOSS_SCALE_GROWTH_INTERVAL = 2000
LOSS_SCALE_FACTOR = 2.0
#: The scale never falls below 1 (at 1 the loss is not scaled at all).
MIN_LOSS_SCALE = 1.0


def unwrap_variable(variable: Any) -> tf.Variable:
    """The ``tf.Variable`` behind a Keras 3 variable (or the variable itself)."""
    inner = getattr(variable, "value", None)
    return inner if isinstance(inner, tf.Variable) else variable


def _sync_variable(initial: Any, *, name: str) -> tf.Variable:
    # Same value on every replica; replica-context writes happen through extended.update only.
    return tf.Variable(
        initial,
        trainable=False,
        name=name,
        synchronization=tf.VariableSynchronization.ON_WRITE,
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
    )


class ClippedAdam(tf.Module):
    """Adam on ``variables`` with global-norm clipping (see the module docstring).

    Create it inside ``strategy.scope()`` so that its slots are mirrored like the variables.

    Parameters
    ----------
    variables
        Trainable variables (Keras variables are unwrapped).
    beta1, beta2, epsilon
        Adam constants.
    clip_norm
        Global L2 norm the gradient is clipped to.
    """

    def __init__(
        self,
        variables: Sequence[Any],
        *,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        clip_norm: float = 100.0,
        name: str = "clipped_adam",
    ) -> None:
        super().__init__(name=name)
        self.variables_ = [unwrap_variable(v) for v in variables]
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.clip_norm = float(clip_norm)
        with tf.name_scope(name):
            self.m = [
                _sync_variable(tf.zeros(v.shape, v.dtype), name=f"m{i}")
                for i, v in enumerate(self.variables_)
            ]
            self.v = [
                _sync_variable(tf.zeros(v.shape, v.dtype), name=f"v{i}")
                for i, v in enumerate(self.variables_)
            ]
            self.iterations = _sync_variable(tf.constant(0, tf.int64), name="iterations")
            self.skipped = _sync_variable(tf.constant(0, tf.int64), name="skipped")

    def apply(
        self, grads: Sequence[tf.Tensor], *, learning_rate: tf.Tensor | float
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Clip the (already all-reduced) ``grads`` and update; call in replica context.

        Returns
        -------
        (tf.Tensor, tf.Tensor)
            The global norm before clipping, and whether the step was applied (finite gradient).
        """
        grads = [tf.cast(g, v.dtype) for g, v in zip(grads, self.variables_, strict=True)]
        norm = tf.linalg.global_norm(grads)
        finite = tf.math.is_finite(norm)
        # tf.clip_by_global_norm turns everything into NaN for an infinite norm; zero instead
        # (the update is discarded anyway when not finite).
        scale = tf.where(finite, self.clip_norm / tf.maximum(norm, self.clip_norm), 0.0)
        clipped = [tf.where(finite, g * scale, tf.zeros_like(g)) for g in grads]
        lr = tf.cast(learning_rate, tf.float32)
        tf.distribute.get_replica_context().merge_call(self._update, args=(clipped, lr, finite))
        return norm, finite

    def _update(self, strategy: tf.distribute.Strategy, grads: list[Any], lr: Any, finite: Any) -> None:
        t = tf.cast(self.iterations + 1, tf.float32)
        ext = strategy.extended

        def step(  # noqa: PLR0917 - extended.update passes these positionally
            var: tf.Variable, grad: tf.Tensor, m: tf.Variable, v: tf.Variable, lr: tf.Tensor, ok: tf.Tensor
        ) -> tf.Operation:
            m_new = self.beta1 * m + (1.0 - self.beta1) * grad
            v_new = self.beta2 * v + (1.0 - self.beta2) * tf.square(grad)
            step_size = lr * tf.sqrt(1.0 - tf.pow(self.beta2, t)) / (1.0 - tf.pow(self.beta1, t))
            var_new = var - step_size * m_new / (tf.sqrt(v_new) + self.epsilon)
            return tf.group(
                m.assign(tf.where(ok, m_new, m)),
                v.assign(tf.where(ok, v_new, v)),
                var.assign(tf.where(ok, var_new, var)),
            )

        for var, grad, m, v in zip(self.variables_, grads, self.m, self.v, strict=True):
            # m and v are passed as arguments: extended.update hands each device its own copy.
            ext.update(
                var,
                step,
                args=(grad, m, v, lr, finite),
                group=False,
            )
        ext.update(
            self.iterations, lambda it, ok: it.assign_add(tf.cast(ok, tf.int64)), args=(finite,), group=False
        )
        ext.update(
            self.skipped, lambda sk, ok: sk.assign_add(1 - tf.cast(ok, tf.int64)), args=(finite,), group=False
        )


class LossScale(tf.Module):
    """Dynamic loss scale for float16 training (halve on overflow, double after a finite run)."""

    def __init__(self, *, enabled: bool) -> None:
        super().__init__(name="loss_scale")
        self.enabled = bool(enabled)
        self.scale = _sync_variable(
            tf.constant(INITIAL_LOSS_SCALE if enabled else 1.0, tf.float32), name="scale"
        )
        self.good_steps = _sync_variable(tf.constant(0, tf.int64), name="good_steps")

    def update(self, finite: tf.Tensor) -> None:
        """After a step: adjust the scale (call in replica context; a no-op when disabled)."""
        if not self.enabled:
            return

        def merge(strategy: tf.distribute.Strategy, finite: Any) -> None:
            def new_scale(scale: tf.Variable, good: tf.Variable, ok: tf.Tensor) -> tf.Operation:
                grow = tf.logical_and(ok, good + 1 >= LOSS_SCALE_GROWTH_INTERVAL)
                value = tf.where(
                    ok,
                    tf.where(grow, scale * LOSS_SCALE_FACTOR, scale),
                    tf.maximum(scale / LOSS_SCALE_FACTOR, MIN_LOSS_SCALE),
                )
                count = tf.where(tf.logical_and(ok, tf.logical_not(grow)), good + 1, tf.zeros_like(good))
                return tf.group(scale.assign(value), good.assign(count))

            strategy.extended.update(self.scale, new_scale, args=(self.good_steps, finite), group=False)

        tf.distribute.get_replica_context().merge_call(merge, args=(finite,))
