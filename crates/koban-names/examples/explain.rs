//! Show how names are parsed and scored:
//! `cargo run -p koban-names --example explain -- "SATOH Hanako" "さとう はなこ"`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    for a in &args {
        let k = koban_names::name_key(a);
        println!("{a:?}: keys {:?} kanji {:?}", k.keys(), k.kanji());
    }
    if let [a, b] = args.as_slice() {
        let s = koban_names::compare(a, b);
        println!(
            "score {s:.3} (match: {})",
            s >= koban_names::DEFAULT_THRESHOLD
        );
    }
}
