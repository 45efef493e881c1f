//! `noop`: the overhead baseline. Echoes its input object as the result.

use wow_workloads::{Error, Params, Value};

fn run(params: &Params) -> Result<Value, Error> {
    Ok(Value::Object(params.clone()))
}

fn main() {
    wow_workloads::main(run)
}
