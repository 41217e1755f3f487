"""P V for causal attention whose weights P are shared by the batch, without the masked half.

Random-family weights P = softmax(R + causal mask) (heads, n, n) are lower triangular: their upper
triangle is exactly 0 (exp(MASK_VALUE - max) underflows). The dense 'hqk,bkhd->bqhd' still
multiplies those zeros with every example's values. Split the n slots into blocks of b (the last
may be shorter); query block i only needs key blocks 0..i:

    Y[i] = P[i, :i+1] V[:i+1]                        (rows of block i, keys up to its end)

so the forward pass multiplies sum_i (i + 1) b^2 = n^2 (n_b + 1) / (2 n_b) entries of P, n_b =
n / b blocks: 56% of the square at 8 blocks. The backward pass keeps that shape (a custom VJP; the
transpose of slices would otherwise pad every block's gradient to a full (heads, n, n) tensor):

    dP[i, :i+1] = G[i] V[:i+1]^T, 0 above the diagonal blocks,  dV[j] = P[j:, j]^T G[j:].

Each is a short loop of static slices, one matmul per block, that XLA compiles as n_b dots.
docs/math.md has the derivation; causal_block_fraction is the fraction the benchmark's FLOP
ceiling counts (synth.bench.flops).
"""
import functools

import jax
import jax.numpy as jnp

# model.causal_block = AUTO: on accelerators, blocks of AUTO_BLOCKS-th of the length from
# AUTO_MIN_LENGTH on; on CPU dense. XLA's CPU backend runs the one dense product faster than the
# blocks at every block count tried (n 1024 and 2048, 2 to 16 blocks: the slices' copies and the
# smaller dots cost more than the skipped half saves; docs/math.md has the figures), so there
# AUTO keeps it dense and a positive causal_block forces the blocks.
AUTO = -1
AUTO_BLOCKS = 8
AUTO_MIN_LENGTH = 1024


def check_block(setting: int) -> None:
  """A ValueError unless `setting` is 0, AUTO or a block size. It reads no device, so a config
  can be checked before jax.distributed.initialize (which must precede any backend use)."""
  if setting != AUTO and setting < 0:
    raise ValueError(f"causal_block={setting} must be 0 (dense), {AUTO} (auto) or a block size")


def resolve_block(setting: int, n: int, platform: str | None = None) -> int:
  """The block size used at length n: 0 (dense) or a size < n. One rule for model and bench.

  setting: 0 = dense, AUTO (-1) = n / AUTO_BLOCKS (rounded up) from AUTO_MIN_LENGTH on, except on
  CPU (dense), else a block size (>= n means one block: dense). platform: the backend the
  product runs on (default: JAX's default backend).
  """
  check_block(setting)
  if setting == AUTO:
    if n < AUTO_MIN_LENGTH:
      return 0
    return -(-n // AUTO_BLOCKS) if (platform or jax.default_backend()) != "cpu" else 0
  return setting if 0 < setting < n else 0


def causal_block_fraction(block: int, n: int) -> float:
  """Fraction of the n x n square the blocked product multiplies (1.0 when dense)."""
  if not block:
    return 1.0
  return sum(min(stop, n) * (stop - start) for start, stop in _bounds(n, block)) / (n * n)


def _bounds(n: int, block: int):
  return [(s, min(s + block, n)) for s in range(0, n, block)]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def causal_block_matmul(p, v, block: int):
  """einsum('hqk,bkhd->bqhd', p, v) for p (heads, n, n) that is 0 above the diagonal, computed
  block by block (see the module doc); v (B, n, heads, d_h), same dtype as p."""
  return jnp.concatenate([jnp.einsum("hqk,bkhd->bqhd", p[:, s:e, :e], v[:, :e])
                          for s, e in _bounds(p.shape[1], block)], axis=1)


def _fwd(p, v, block):
  return causal_block_matmul(p, v, block), (p, v)


def _bwd(block, residuals, g):
  p, v = residuals
  n = p.shape[1]
  d_p = jnp.concatenate([
      jnp.pad(jnp.einsum("bqhd,bkhd->hqk", g[:, s:e], v[:, :e]), ((0, 0), (0, 0), (0, n - e)))
      for s, e in _bounds(n, block)], axis=1)
  d_v = jnp.concatenate([jnp.einsum("hqk,bqhd->bkhd", p[:, s:, s:e], g[:, s:])
                         for s, e in _bounds(n, block)], axis=1)
  return d_p.astype(p.dtype), d_v.astype(v.dtype)


causal_block_matmul.defvjp(_fwd, _bwd)
