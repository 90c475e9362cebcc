//! `tickwire`: demo, run, sim, bench, decode, record, replay, autobahn.

fn main() {
    println!("tickwire: under construction");
}
