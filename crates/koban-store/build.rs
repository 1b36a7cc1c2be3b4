//! `sqlx::migrate!` embeds the PostgreSQL migrations at compile time; this makes a new or
//! changed migration file rebuild the crate.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
