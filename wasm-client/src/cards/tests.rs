use super::*;

const DECK: &str = "What is 2 + 2? :: 4
3 + 4 equals 7 :: true
Penguins can fly :: False (false)

# Optional: Add multiple choice when needed
What is 3 × 4?
- 10
- 11
- 12
> 12

## Sub
Which number is bigger?
* 5
* 10

> 7
<!-- Hint: think -->
<!-- Tags: a, b -->
- dashed :: legacy
$x$ :: latex makes no card
![img](u) :: no card either
lonely text
";

#[test]
fn parses_every_card_kind_of_the_app_grammar() {
    let cards = parse("d1", DECK);
    let fronts: Vec<&str> = cards.iter().map(|c| c["front"].as_str().unwrap()).collect();
    assert_eq!(
        fronts,
        [
            "What is 2 + 2?",
            "3 + 4 equals 7",
            "Penguins can fly",
            "What is 3 × 4?",
            "Which number is bigger?",
            "dashed"
        ]
    );
    assert_eq!(cards[0]["type"], "simple");
    assert_eq!(cards[0]["back"], "4");
    assert!(cards[0].get("category").is_none());
    assert_eq!(cards[1]["type"], "true-false");
    assert_eq!(cards[1]["back"], "true");
    assert_eq!(cards[2]["back"], "false");
    let mc = &cards[3];
    assert_eq!(mc["type"], "multiple-choice");
    assert_eq!(mc["back"], "12");
    assert_eq!(mc["category"], "Optional: Add multiple choice when needed");
    let opts: Vec<(&str, bool)> = mc["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["text"].as_str().unwrap(),
                o["isCorrect"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(opts, [("10", false), ("11", false), ("12", true)]);
    assert_eq!(mc["metadata"]["difficulty"], "medium");
    // An answer that is no option is added as the correct one.
    let bigger = &cards[4];
    assert_eq!(bigger["options"].as_array().unwrap().len(), 3);
    assert_eq!(bigger["options"][2]["text"], "7");
    assert_eq!(bigger["subcategory"], "Sub");
    assert_eq!(bigger["metadata"]["hint"], "think");
    assert_eq!(bigger["metadata"]["tags"], json!(["a", "b"]));
    assert_eq!(cards[5]["back"], "legacy");
}

#[test]
fn metadata_blocks_code_blocks_and_short_questions_make_no_cards() {
    let md = "---\ntitle: x :: y\n---\n```\na :: b\n```\nQ\n- only one\n> only one\nafter :: it\n";
    let cards = parse("d", md);
    assert_eq!(cards.len(), 1, "{cards:?}");
    assert_eq!(cards[0]["front"], "after");
    assert!(parse("d", "Q\n- a\n- b\n").is_empty(), "no answer, no card");
}

#[test]
fn ids_are_stable_across_devices_and_unrelated_edits() {
    let a = parse("d1", "A :: 1\nB :: 2\n");
    let b = parse("d1", "New :: 0\nA :: one\n  b   :: 2\n");
    assert_eq!(a[0]["id"], b[1]["id"], "answer edited, id kept");
    assert_eq!(a[1]["id"], b[2]["id"], "case and spaces do not count");
    assert_ne!(a[0]["id"], parse("d2", "A :: 1\n")[0]["id"], "per deck");
    let twice = parse("d1", "A :: 1\nA :: 2\n");
    assert_ne!(twice[0]["id"], twice[1]["id"]);
    assert_eq!(twice[0]["id"], a[0]["id"]);
    let id = a[0]["id"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "8", "UUID version 8: {id}");
    let parsed = uuid::Uuid::parse_str(id).unwrap();
    assert_eq!(parsed.to_string(), id);
    assert_eq!(parsed.get_version_num(), 8);
}

#[test]
fn rendered_cards_parse_back_to_the_same_content() {
    let cards = parse("d1", DECK);
    let md = render(&cards);
    assert!(same_content("d1", &md, &cards), "{md}");
    let mut edited = cards.clone();
    edited[0]["back"] = json!("four");
    assert!(!same_content("d1", &md, &edited));
    assert_eq!(parse("d1", &render(&edited))[0]["back"], "four");
}

#[test]
fn crlf_and_bom_parse_like_plain_newlines() {
    let plain = parse("d", "a :: b\nc :: d\n");
    let windows = parse("d", "\u{feff}a :: b\r\nc :: d\r\n");
    assert_eq!(plain, windows);
}

#[test]
fn lines_of_each_card_are_reported() {
    let cards = parse_with_lines("d", "x :: y\n\nQ\n- a\n- b\n\n> b\n\nz :: w\n");
    let spans: Vec<(usize, usize)> = cards.iter().map(|c| (c.first_line, c.last_line)).collect();
    assert_eq!(spans, [(0, 0), (2, 6), (8, 8)]);
}
