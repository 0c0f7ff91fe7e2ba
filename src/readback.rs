//! One transfer per operation: a pending result is the graph's values to read plus how to finish.
//!
//! Native code and the browser's CPU backend can read tensors synchronously; WebGPU in the
//! browser can only read asynchronously (a synchronous read panics there). Every operation that
//! reports numbers therefore builds one flat tensor of everything it needs, then finishes on
//! the host from those values: `wait` reads it synchronously, `wait_async` awaits it.

use burn::prelude::*;

/// Turns the values read back into the operation's result.
type Finish<T> = Box<dyn FnOnce(&[f64]) -> T>;

pub struct Pending<T> {
    readings: Tensor<1>,
    finish: Finish<T>,
}

impl<T> Pending<T> {
    pub fn new(readings: Tensor<1>, finish: impl FnOnce(&[f64]) -> T + 'static) -> Self {
        Self { readings, finish: Box::new(finish) }
    }

    /// Concatenates `parts` (each flattened) into the readings.
    pub fn from_parts(parts: Vec<Tensor<1>>, finish: impl FnOnce(&[f64]) -> T + 'static) -> Self {
        Self::new(Tensor::cat(parts, 0), finish)
    }

    pub fn wait(self) -> T {
        let values = to_f64(self.readings.into_data());
        (self.finish)(&values)
    }

    pub async fn wait_async(self) -> Result<T, String> {
        let data = self.readings.into_data_async().await.map_err(|e| format!("reading results from the device failed: {e:?}"))?;
        Ok((self.finish)(&to_f64(data)))
    }
}

pub fn to_f64(data: TensorData) -> Vec<f64> {
    data.convert::<f64>().try_to_vec::<f64>().expect("readings are float")
}
