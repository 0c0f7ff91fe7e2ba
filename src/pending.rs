//! One transfer per operation: a pending result is the values to read from the device plus how to finish.
//!
//! Native code and the browser's CPU backend can read tensors synchronously; WebGPU in the
//! browser can only read asynchronously (a synchronous read panics there). So every operation
//! that reports numbers (a meta-iteration, a meta-test, the adaptation view, the weights)
//! builds one flat tensor of everything it needs and returns it as a `Pending`, to be finished
//! on the host from those values: `.wait()` reads synchronously, `.read().await` asynchronously.
//! Each operation exists once; the caller picks the way to wait.

use burn::prelude::*;

/// Turns the values read back into the operation's result. It may hold a borrow (`'a`): a
/// meta-iteration applies its update to the learner once its loss is known to be finite.
type Finish<'a, T> = Box<dyn FnOnce(&[f64]) -> T + 'a>;

#[must_use = "a pending result does nothing until it is waited for or read"]
pub struct Pending<'a, T> {
    readings: Tensor<1>,
    finish: Finish<'a, T>,
}

impl<'a, T> Pending<'a, T> {
    /// Concatenates `parts` (each rank 1) into the values to read.
    pub fn new(parts: Vec<Tensor<1>>, finish: impl FnOnce(&[f64]) -> T + 'a) -> Self {
        Self { readings: Tensor::cat(parts, 0), finish: Box::new(finish) }
    }

    /// Reads synchronously (natively, and on the browser's CPU backend).
    pub fn wait(self) -> T {
        let values = to_f64(self.readings.into_data());
        (self.finish)(&values)
    }

    /// Reads asynchronously (the only way on WebGPU in the browser).
    pub async fn read(self) -> Result<T, String> {
        let data = self.readings.into_data_async().await.map_err(|e| format!("reading results from the device failed: {e:?}"))?;
        Ok((self.finish)(&to_f64(data)))
    }

    /// The same pending read, finished by `f` after this one's own finish.
    pub fn map<U>(self, f: impl FnOnce(T) -> U + 'a) -> Pending<'a, U>
    where
        T: 'a,
    {
        let finish = self.finish;
        Pending { readings: self.readings, finish: Box::new(move |values| f(finish(values))) }
    }

    /// This read and `other` as one transfer, their results finished together by `f`.
    pub fn join<U: 'a, V>(self, other: Pending<'a, U>, f: impl FnOnce(T, U) -> V + 'a) -> Pending<'a, V>
    where
        T: 'a,
    {
        let at = self.readings.dims()[0];
        let (first, second) = (self.finish, other.finish);
        Pending {
            readings: Tensor::cat(vec![self.readings, other.readings], 0),
            finish: Box::new(move |values| {
                let (mine, theirs) = values.split_at(at);
                f(first(mine), second(theirs))
            }),
        }
    }
}

fn to_f64(data: TensorData) -> Vec<f64> {
    data.convert::<f64>().try_to_vec::<f64>().expect("readings are float")
}
