//! Kernels of the CPU's plain device, written as loops over the tensors' own memory: what runs
//! off the graph (the query set's pass and backward, the meta-test, the view) reads its inputs
//! where burn-flex keeps them and builds its outputs from typed vectors, which burn-flex takes
//! as they are. Each is the same function, to the bit, as the tensor ops the graph uses beside
//! it (`tests/pinned.rs` pins whole runs to the bit; the layer tests compare the two paths).
//!
//! Two costs of burn-flex 0.22.1 are avoided this way: reading a tensor to the host
//! (`into_data` of a shared buffer copies it twice) and a new zeroed tensor (`zeros` and every
//! matmul's output allocate bytes and copy them into an aligned buffer).

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::prelude::*;
use burn::tensor::Element;

/// `x`'s buffer where the CPU holds it, contiguous (shared, not copied, when it already is), or
/// `None` on a GPU.
pub fn on_cpu<const D: usize>(x: &Tensor<D>) -> Option<FlexTensor> {
    let t = x.clone().without_autodiff().try_into_primitive::<Flex>().ok()?;
    Some(if t.is_contiguous() && t.layout().start_offset() == 0 { t } else { t.to_contiguous() })
}

/// `x`'s buffer if `x` is off the graph, on the CPU: the host kernels may take it.
pub fn off_graph_on_cpu<const D: usize>(x: &Tensor<D>) -> Option<FlexTensor> {
    if x.is_autodiff() { None } else { on_cpu(x) }
}

/// The buffer of `x`, a backward's input whose forward ran on the host: off the graph, as the
/// forward's inputs were (a tracked one here would lose its graph, so it is a bug, not a path).
pub fn off_graph<const D: usize>(x: &Tensor<D>) -> FlexTensor {
    off_graph_on_cpu(x).expect("a host kernel's backward runs off the graph, as its forward did")
}

/// `a · b` for `a: [tasks, m, k]` and `b: [tasks, k, n]` (either's tasks may be 1, broadcast),
/// views with any strides: off the graph on the CPU, burn-flex's own call of the GEMM, one per
/// task, into a typed vector; elsewhere `a.matmul(b)`.
pub fn matmul(a: Tensor<3>, b: Tensor<3>) -> Tensor<3> {
    let plain = |t: &Tensor<3>| if t.is_autodiff() { None } else { t.clone().try_into_primitive::<Flex>().ok() };
    let (Some(l), Some(r)) = (plain(&a), plain(&b)) else { return a.matmul(b) };
    let ([ta, m, k], [tb, kb, n]) = (a.dims(), b.dims());
    assert!(k == kb && (ta == tb || ta == 1 || tb == 1), "matmul of [{ta}, {m}, {k}] and [{tb}, {kb}, {n}]");
    let tasks = ta.max(tb);
    let device = a.device();
    match l.dtype() {
        burn::tensor::DType::F32 if r.dtype() == l.dtype() => tensor(batched_gemm::<f32>(&l, &r, tasks, m, k, n), [tasks, m, n], &device),
        burn::tensor::DType::F64 if r.dtype() == l.dtype() => tensor(batched_gemm::<f64>(&l, &r, tasks, m, k, n), [tasks, m, n], &device),
        _ => a.matmul(b),
    }
}

fn batched_gemm<T: GemmFloat>(l: &FlexTensor, r: &FlexTensor, tasks: usize, m: usize, k: usize, n: usize) -> Vec<T> {
    let (ls, rs) = (l.layout().strides(), r.layout().strides());
    let (lo, ro) = (l.layout().start_offset() as isize, r.layout().start_offset() as isize);
    let (lt, rt) = (l.layout().shape()[0], r.layout().shape()[0]);
    let (lhs, rhs) = (l.storage::<T>(), r.storage::<T>());
    // zeroed, as burn-flex's own output is (`gemm` with `read_dst` false writes every element)
    let mut out = vec![T::default(); tasks * m * n];
    for t in 0..tasks {
        let lt_off = if lt == 1 { 0 } else { t as isize * ls[0] };
        let rt_off = if rt == 1 { 0 } else { t as isize * rs[0] };
        // SAFETY: the offsets and strides are the tensors' own layouts (a task dimension of 1
        // broadcast with offset 0), inside their buffers, whose shapes were checked above; the
        // output's rows are `n` apart in a buffer of `tasks m n` elements: burn-flex's own call.
        unsafe {
            gemm::gemm(
                m, n, k,
                out.as_mut_ptr().add(t * m * n), 1, n as isize, false,
                lhs.as_ptr().offset(lo + lt_off), ls[2], ls[1],
                rhs.as_ptr().offset(ro + rt_off), rs[2], rs[1],
                T::ZERO, T::ONE, false, false, false, gemm::Parallelism::None,
            );
        }
    }
    out
}

/// A tensor of `shape` on `device` from `values`, in their dtype, without a copy.
pub fn tensor<E: Element, const D: usize>(values: Vec<E>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), (device, E::dtype()))
}

/// Calls `$f` with the buffer's values as `&[f32]` or `&[f64]` (the gradient checks run in f64).
/// `$f` is written once and expanded once per type, so it must be a closure literal (or a
/// generic function's name), not a closure bound to a variable.
macro_rules! with_floats {
    ($t:expr, $f:expr) => {
        match $t.dtype() {
            burn::tensor::DType::F32 => $f($t.storage::<f32>()),
            burn::tensor::DType::F64 => $f($t.storage::<f64>()),
            other => panic!("float activations, not {other:?}"),
        }
    };
}
pub(crate) use with_floats;

/// The im2col of `images` images of `hw` pixels of `c` channels each (`pixels`, channels-last):
/// for every image, the rows its window `taps` pick, a tap of `hw` (the padding) picking zeros.
/// The `select` of the graph's im2col from the pixels with one zero pixel appended.
pub fn im2col<E: Element + Copy + Default>(pixels: &[E], c: usize, images: usize, hw: usize, taps: &[usize]) -> Vec<E> {
    let mut out = Vec::with_capacity(images * taps.len() * c);
    for image in pixels.chunks_exact(hw * c).take(images) {
        for &p in taps {
            match (p == hw, c) {
                (true, _) => out.extend(std::iter::repeat_n(E::default(), c)),
                (false, 1) => out.push(image[p]),
                (false, _) => out.extend_from_slice(&image[p * c..(p + 1) * c]),
            }
        }
    }
    out
}

/// The im2col's derivative: each row of `cols` (`c` values, ordered as `im2col` made them) added
/// onto the pixel it was picked from, in order, the padding's dropped. The graph's scatter-add by
/// the same rows, in the order its `select_assign` adds.
pub fn col2im<E: Element + Copy + Default + std::ops::AddAssign>(cols: &[E], c: usize, images: usize, hw: usize, taps: &[usize]) -> Vec<E> {
    let mut out = vec![E::default(); images * hw * c];
    for (image, rows) in out.chunks_exact_mut(hw * c).zip(cols.chunks_exact(taps.len() * c)) {
        for (&p, row) in taps.iter().zip(rows.chunks_exact(c)) {
            if p != hw {
                for (o, x) in image[p * c..(p + 1) * c].iter_mut().zip(row) {
                    *o += *x;
                }
            }
        }
    }
    out
}

/// `values` added onto a zero vector of `n` at `positions`, in order: the max-pool's backward.
pub fn scatter_add<E: Element + Copy + Default + std::ops::AddAssign>(values: &[E], positions: &[usize], n: usize) -> Vec<E> {
    let mut out = vec![E::default(); n];
    for (&p, &v) in positions.iter().zip(values) {
        out[p] += v;
    }
    out
}

/// The float types the host GEMM runs (`gemm` dispatches on them at run time).
trait GemmFloat: Element + Copy + Default + bytemuck::Pod {
    const ZERO: Self;
    const ONE: Self;
}

impl GemmFloat for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

impl GemmFloat for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}
