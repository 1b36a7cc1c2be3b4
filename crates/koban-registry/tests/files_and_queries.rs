//! Record-file validation, query parsing, and parsers that never panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use koban_registry::*;
use proptest::prelude::*;

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn today() -> Date {
    d("2025-06-01")
}

fn name() -> PersonName {
    PersonName {
        kanji: Some("佐藤 花子".into()),
        kana: Some("サトウ ハナコ".into()),
        latin: Some("SATO HANAKO".into()),
    }
}

fn wanted() -> WantedPerson {
    WantedPerson {
        name: name(),
        date_of_birth: d("1980-04-01"),
        descriptors: Descriptors {
            sex: Sex::Female,
            height_cm: Some(160),
            description: "右頬にほくろ".into(),
        },
        warrant: Warrant {
            issuing_court: "東京地方裁判所".into(),
            warrant_number: "令和7年(令わ)第123号".into(),
            offence: "強盗致傷".into(),
            issued_on: d("2025-05-20"),
            expires_on: d("2025-11-20"),
        },
        caution: CautionFlags {
            armed: true,
            ..CautionFlags::default()
        },
    }
}

fn vehicle() -> StolenVehicle {
    StolenVehicle {
        vehicle_id: VehicleId::parse("ZVW30-1234567").unwrap(),
        plate: Some(Plate::parse("品川300あ1234").unwrap()),
        make: "トヨタ".into(),
        model: "プリウス".into(),
        colour: "白".into(),
        stolen_on: d("2025-05-31"),
    }
}

fn passport() -> TravelDocumentRecord {
    TravelDocumentRecord {
        document: TravelDocumentId::parse("JPN", "P", "TK1234567").unwrap(),
        status: DocumentStatus::Stolen,
        reported_on: d("2025-05-01"),
        holder: Some(name()),
        holder_date_of_birth: Some(d("1980-04-01")),
    }
}

fn fields(errors: &[RegistryError]) -> Vec<(&str, &str)> {
    errors
        .iter()
        .map(|e| (e.field().unwrap_or(""), e.code()))
        .collect()
}

#[test]
fn a_good_wanted_file_is_valid_and_round_trips() {
    let f = RecordFile::Wanted(wanted());
    assert!(f.validate(today()).is_empty(), "{:?}", f.validate(today()));
    assert_eq!(f.caution().names(), vec!["armed"]);
    assert_eq!(f.subject_keys()[0], "P|佐藤花子|1980-04-01");
    let json = serde_json::to_string(&f).unwrap();
    assert!(json.contains("\"kind\":\"wanted\""));
    assert!(json.contains("\"1980-04-01\""));
    assert_eq!(serde_json::from_str::<RecordFile>(&json).unwrap(), f);
    // The name key matches the romanised form of the same person.
    let k = f_name_key(&f);
    let other = koban_names::name_key("Hanako SATOH");
    assert!(koban_names::compare_keys(&k, &other) >= koban_names::DEFAULT_THRESHOLD);
}

fn f_name_key(f: &RecordFile) -> koban_names::NameKey {
    match f {
        RecordFile::Wanted(w) => w.name.name_key(),
        _ => unreachable!(),
    }
}

#[test]
fn a_bad_wanted_file_reports_every_field() {
    let mut w = wanted();
    w.name = PersonName::default();
    w.date_of_birth = d("2030-01-01");
    w.warrant.issuing_court = " ".into();
    w.warrant.offence = "x".repeat(61);
    w.warrant.expires_on = d("2025-05-01");
    w.descriptors.height_cm = Some(400);
    let e = RecordFile::Wanted(w).validate(today());
    assert_eq!(
        fields(&e),
        vec![
            ("name.kanji", "required"),
            ("date_of_birth", "out_of_range"),
            ("descriptors.height_cm", "out_of_range"),
            ("warrant.issuing_court", "required"),
            ("warrant.offence", "too_long"),
            ("warrant.expires_on", "inconsistent"),
        ]
    );
    let mut w = wanted();
    w.warrant.expires_on = d("2025-05-31");
    assert_eq!(
        fields(&RecordFile::Wanted(w).validate(today())),
        vec![("warrant.expires_on", "out_of_range")]
    );
    let mut w = wanted();
    w.name.kana = Some("さとう hanako".into());
    w.name.latin = Some("SATO 花子".into());
    assert_eq!(
        fields(&RecordFile::Wanted(w).validate(today())),
        vec![
            ("name.kana", "invalid_format"),
            ("name.latin", "invalid_format")
        ]
    );
}

fn missing() -> MissingPerson {
    MissingPerson {
        name: PersonName {
            kanji: Some("田中 太郎".into()),
            kana: None,
            latin: None,
        },
        date_of_birth: d("2012-01-15"),
        descriptors: Descriptors::default(),
        last_seen_on: d("2025-05-30"),
        last_seen_place: "新宿駅".into(),
        circumstances: "下校後に帰宅せず".into(),
        juvenile: true,
        vulnerable: false,
        caution: CautionFlags::default(),
    }
}

#[test]
fn missing_person_rules() {
    assert!(RecordFile::Missing(missing()).validate(today()).is_empty());
    let mut m = missing();
    m.juvenile = false;
    assert_eq!(
        fields(&RecordFile::Missing(m).validate(today())),
        vec![("juvenile", "inconsistent")]
    );
    let mut m = missing();
    m.date_of_birth = d("1940-01-01");
    m.vulnerable = true;
    assert_eq!(
        fields(&RecordFile::Missing(m.clone()).validate(today())),
        vec![("juvenile", "inconsistent")]
    );
    m.juvenile = false;
    assert!(RecordFile::Missing(m.clone()).validate(today()).is_empty());
    m.last_seen_on = d("1930-01-01");
    m.circumstances = String::new();
    assert_eq!(
        fields(&RecordFile::Missing(m).validate(today())),
        vec![
            ("last_seen_on", "inconsistent"),
            ("circumstances", "required")
        ]
    );
}

#[test]
fn unidentified_person_needs_a_description() {
    let mut u = UnidentifiedPerson {
        found_on: d("2025-05-01"),
        found_place: "多摩川河川敷".into(),
        deceased: true,
        estimated_age: Some((30, 50)),
        descriptors: Descriptors {
            sex: Sex::Male,
            height_cm: Some(170),
            description: "紺のスーツ".into(),
        },
    };
    assert!(
        RecordFile::Unidentified(u.clone())
            .validate(today())
            .is_empty()
    );
    assert!(
        RecordFile::Unidentified(u.clone())
            .subject_keys()
            .is_empty()
    );
    u.descriptors.description = String::new();
    u.estimated_age = Some((50, 30));
    u.found_on = d("2026-01-01");
    assert_eq!(
        fields(&RecordFile::Unidentified(u).validate(today())),
        vec![
            ("found_on", "out_of_range"),
            ("estimated_age", "out_of_range"),
            ("descriptors.description", "required")
        ]
    );
}

#[test]
fn property_files() {
    let v = vehicle();
    let f = RecordFile::StolenVehicle(v.clone());
    assert!(f.validate(today()).is_empty());
    assert_eq!(
        f.subject_keys(),
        vec!["VEH|C|ZVW30-1234567", "PLATE|品川|300|あ|1234"]
    );
    let json = serde_json::to_string(&f).unwrap();
    assert_eq!(serde_json::from_str::<RecordFile>(&json).unwrap(), f);
    let mut bad = v;
    bad.plate = Some(Plate::parse("300あ1234").unwrap());
    bad.make = String::new();
    bad.colour = String::new();
    assert_eq!(
        fields(&RecordFile::StolenVehicle(bad).validate(today())),
        vec![
            ("plate.place", "required"),
            ("make", "required"),
            ("colour", "required")
        ]
    );

    let p = StolenPlate {
        plate: Plate::parse("練馬 500 さ ・・・1").unwrap(),
        plates_taken: 3,
        stolen_on: d("2025-06-02"),
    };
    assert_eq!(
        fields(&RecordFile::StolenPlate(p).validate(today())),
        vec![
            ("plates_taken", "out_of_range"),
            ("stolen_on", "out_of_range")
        ]
    );

    let g = StolenFirearm {
        firearm: FirearmId::parse("Smith & Wesson", "AB-1234", Some(".38")).unwrap(),
        firearm_type: "拳銃".into(),
        stolen_on: d("2025-01-01"),
    };
    let f = RecordFile::StolenFirearm(g);
    assert!(f.validate(today()).is_empty());
    assert_eq!(f.subject_keys(), vec!["GUN|SMITHWESSON|AB1234"]);

    let a = StolenArticle {
        number: ArticleNumber::parse(ArticleNumberKind::Serial, "SN-99").unwrap(),
        article_type: String::new(),
        brand: "Canon".into(),
        stolen_on: d("2025-01-01"),
    };
    assert_eq!(
        fields(&RecordFile::StolenArticle(a).validate(today())),
        vec![("article_type", "required")]
    );
}

#[test]
fn only_the_issuing_state_enters_travel_documents() {
    let t = passport();
    let f = RecordFile::TravelDocument(t.clone());
    assert!(f.validate(today()).is_empty());
    assert_eq!(f.subject_keys(), vec!["DOC|JPN|P|TK1234567"]);
    let json = serde_json::to_string(&f).unwrap();
    assert_eq!(serde_json::from_str::<RecordFile>(&json).unwrap(), f);
    let mut foreign = t.clone();
    foreign.document = TravelDocumentId::parse("USA", "P", "123456789").unwrap();
    assert_eq!(
        fields(&RecordFile::TravelDocument(foreign).validate(today())),
        vec![("document.issuing_state", "not_issuing_state")]
    );
    // A malformed Japanese passport smuggled in through deserialisation is still refused.
    let json = json.replace("TK1234567", "TK12345");
    let f: RecordFile = serde_json::from_str(&json).unwrap();
    assert_eq!(
        fields(&f.validate(today())),
        vec![("document.document_number", "invalid_format")]
    );
}

fn raw() -> RawQuery {
    RawQuery {
        officer: "新宿PS 地域課 12345".into(),
        purpose: "職務質問".into(),
        ..RawQuery::default()
    }
}

#[test]
fn queries() {
    let q = Query::parse(
        &RawQuery {
            plate: Some("３００ あ １２－３４".into()),
            ..raw()
        },
        today(),
    )
    .unwrap();
    assert!(matches!(&q.key, QueryKey::Plate { plate } if plate.key() == "*|300|あ|1234"));
    assert_eq!(q.key.exact_key(), None);
    let q = Query::parse(
        &RawQuery {
            plate: Some("品川300あ1234".into()),
            ..raw()
        },
        today(),
    )
    .unwrap();
    assert_eq!(q.key.exact_key().as_deref(), Some("PLATE|品川|300|あ|1234"));
    let q = Query::parse(
        &RawQuery {
            document_number: Some("tk1234567".into()),
            issuing_state: Some("jpn".into()),
            document_type: Some("P".into()),
            ..raw()
        },
        today(),
    )
    .unwrap();
    assert_eq!(q.key.exact_key().as_deref(), Some("DOC|JPN|P|TK1234567"));
    let q = Query::parse(
        &RawQuery {
            vehicle_id: Some("zvw30-1234567".into()),
            ..raw()
        },
        today(),
    )
    .unwrap();
    assert_eq!(q.key.exact_key().as_deref(), Some("VEH|C|ZVW30-1234567"));
    let q = Query::parse(
        &RawQuery {
            owner_applied_number: Some("tanaka-1".into()),
            ..raw()
        },
        today(),
    )
    .unwrap();
    assert_eq!(q.key.exact_key().as_deref(), Some("ART|O|TANAKA1"));
    let q = Query::parse(
        &RawQuery {
            firearm_serial: Some("ab-1234".into()),
            firearm_make: Some("S&W".into()),
            ..raw()
        },
        today(),
    )
    .unwrap();
    assert_eq!(q.key.exact_key().as_deref(), Some("GUN|SW|AB1234"));

    let q = Query::parse(
        &RawQuery {
            name: Some("SATO Hanako".into()),
            date_of_birth: Some("1980-04-01".into()),
            dob_tolerance_years: Some(1),
            ..raw()
        },
        today(),
    )
    .unwrap();
    assert!(matches!(
        q.key,
        QueryKey::Person {
            tolerance_years: 1,
            ..
        }
    ));

    let codes = |r: RawQuery| {
        Query::parse(&r, today())
            .unwrap_err()
            .iter()
            .map(|e| (e.field().unwrap_or("").to_string(), e.code()))
            .collect::<Vec<_>>()
    };
    assert_eq!(codes(raw()), vec![(String::new(), "empty_query")]);
    assert_eq!(
        codes(RawQuery {
            plate: Some("  ".into()),
            officer: String::new(),
            ..raw()
        }),
        vec![
            (String::new(), "empty_query"),
            ("officer".into(), "required")
        ]
    );
    assert_eq!(
        codes(RawQuery {
            plate: Some("品川300あ1".into()),
            vehicle_id: Some("ZVW30-1".into()),
            ..raw()
        }),
        vec![(String::new(), "ambiguous_query")]
    );
    assert_eq!(
        codes(RawQuery {
            plate: Some("品川300あ1".into()),
            purpose: "x".repeat(201),
            ..raw()
        }),
        vec![("purpose".into(), "too_long")]
    );
    assert_eq!(
        codes(RawQuery {
            name: Some("SATO".into()),
            ..raw()
        }),
        vec![("date_of_birth".into(), "required")]
    );
    assert_eq!(
        codes(RawQuery {
            date_of_birth: Some("1980-01-01".into()),
            ..raw()
        }),
        vec![("name".into(), "required")]
    );
    assert_eq!(
        codes(RawQuery {
            name: Some("SATO".into()),
            date_of_birth: Some("1980-01-01".into()),
            dob_tolerance_years: Some(6),
            ..raw()
        }),
        vec![("dob_tolerance_years".into(), "out_of_range")]
    );
    assert_eq!(
        codes(RawQuery {
            plate: Some("品川300お1".into()),
            ..raw()
        }),
        vec![("plate".into(), "invalid_format")]
    );
}

#[test]
fn date_of_birth_tolerance() {
    assert!(dob_matches(d("1980-04-01"), d("1980-04-01"), 0));
    assert!(!dob_matches(d("1980-04-01"), d("1980-04-02"), 0));
    assert!(dob_matches(d("1980-04-01"), d("1981-04-01"), 1));
    assert!(!dob_matches(d("1980-04-01"), d("1981-04-02"), 1));
    assert!(dob_matches(d("1980-04-01"), d("1979-04-01"), 1));
    assert!(!dob_matches(d("1980-04-01"), d("1979-03-31"), 1));
}

proptest! {
    #[test]
    fn parsers_never_panic(s in "\\PC{0,80}") {
        let _ = Plate::parse(&s);
        let _ = VehicleId::parse(&s);
        let _ = DocumentNumber::parse(&s);
        let _ = IssuingState::parse(&s);
        let _ = DocumentType::parse(&s);
        let _ = SerialNumber::parse(&s);
        let _ = FirearmMake::parse(&s);
        let _ = koban_registry::date::parse_date_of_birth("dob", &s, today());
        let _ = Query::parse(&RawQuery { plate: Some(s.clone()), ..raw() }, today());
        let _ = Query::parse(&RawQuery { name: Some(s.clone()), date_of_birth: Some(s.clone()), ..raw() }, today());
    }

    #[test]
    fn plate_like_strings_never_panic_and_round_trip(
        place in "(品川|練馬|富士山|つくば|)", class in "[0-9A-Z]{0,4}",
        kana in "[あおしわアれ]", sep in "[ 　]{0,2}", serial in "[・.0-9０-９ー－-]{0,6}",
    ) {
        let s = format!("{place}{sep}{class}{sep}{kana}{sep}{serial}");
        if let Ok(p) = Plate::parse(&s) {
            prop_assert!((1..=9999).contains(&p.serial()));
            prop_assert_eq!(Plate::parse(&p.to_string()).unwrap(), p);
        }
    }

    #[test]
    fn vin_shapes_never_panic(s in "[0-9A-Z]{15,18}") {
        if let Ok(v) = VehicleId::parse(&s) {
            prop_assert_eq!(VehicleId::parse(&v.to_string()).unwrap(), v);
        }
    }
}

/// The bulk import takes a record's subject keys from its search keys (all but the partial
/// ones) instead of building them twice; the two must agree for every kind of file.
#[test]
fn search_keys_less_the_partial_ones_are_the_subject_keys() {
    let files = vec![
        RecordFile::Wanted(wanted()),
        RecordFile::Missing(missing()),
        RecordFile::StolenVehicle(vehicle()),
        RecordFile::StolenPlate(StolenPlate {
            plate: Plate::parse("練馬 500 さ 12-34").unwrap(),
            plates_taken: 2,
            stolen_on: d("2025-05-02"),
        }),
        RecordFile::StolenFirearm(StolenFirearm {
            firearm: FirearmId::parse("Smith & Wesson", "AB-1234", Some(".38")).unwrap(),
            firearm_type: "拳銃".into(),
            stolen_on: d("2025-01-01"),
        }),
        RecordFile::StolenArticle(StolenArticle {
            number: ArticleNumber::parse(ArticleNumberKind::Serial, "SN-99").unwrap(),
            article_type: "カメラ".into(),
            brand: "Canon".into(),
            stolen_on: d("2025-01-01"),
        }),
        RecordFile::TravelDocument(passport()),
    ];
    for f in files {
        let search = index::search_keys(&f);
        let mut subject = f.subject_keys();
        subject.sort();
        subject.dedup();
        let kept: Vec<String> = search
            .iter()
            .filter(|k| !index::is_partial_key(k))
            .cloned()
            .collect();
        assert_eq!(kept, subject, "{:?}", f.kind());
        // Every identifier file has a partial key too, and person files have none.
        let partial = search.iter().any(|k| index::is_partial_key(k));
        assert_eq!(
            partial,
            matches!(
                f,
                RecordFile::StolenVehicle(_)
                    | RecordFile::StolenPlate(_)
                    | RecordFile::StolenFirearm(_)
                    | RecordFile::TravelDocument(_)
            ),
            "{:?}",
            f.kind()
        );
    }
}
