//! `#[tracelite::trace]` on every kind of function, with the global
//! provider installed (one per test binary; tests find their own spans by
//! name).
#![cfg(feature = "macros")]

use std::fmt;
use std::sync::OnceLock;

use tracelite::{
    global, InMemoryExporter, SimpleSpanProcessor, SpanData, SpanKind, Status, TracerProvider,
    Value,
};

fn spans() -> &'static InMemoryExporter {
    static EXPORTER: OnceLock<InMemoryExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemoryExporter::default();
        let provider = TracerProvider::builder()
            .with_processor(SimpleSpanProcessor::new(exporter.clone()))
            .build();
        global::set_tracer_provider(provider).ok();
        exporter
    })
}

fn named(name: &str) -> Vec<SpanData> {
    spans()
        .finished_spans()
        .into_iter()
        .filter(|s| s.name == name)
        .collect()
}

fn attr(span: &SpanData, key: &str) -> Option<Value> {
    span.attribute(key).cloned()
}

#[derive(Debug)]
struct Order {
    id: u32,
}

#[tracelite::trace]
fn plain(count: u32, ratio: f64, ok: bool, label: &str, owned: String, order: &Order) -> u32 {
    count + order.id
}

#[test]
fn arguments_become_typed_attributes() {
    spans();
    assert_eq!(
        plain(2, 0.5, true, "x", "y".to_string(), &Order { id: 7 }),
        9
    );
    let s = named("trace_macro::plain")
        .pop()
        .expect("a span named module::function");
    assert_eq!(s.kind, SpanKind::Internal);
    assert_eq!(attr(&s, "count"), Some(Value::I64(2)));
    assert_eq!(attr(&s, "ratio"), Some(Value::F64(0.5)));
    assert_eq!(attr(&s, "ok"), Some(Value::Bool(true)));
    assert_eq!(attr(&s, "label"), Some(Value::from("x")));
    assert_eq!(attr(&s, "owned"), Some(Value::from("y")));
    assert_eq!(attr(&s, "order"), Some(Value::from("Order { id: 7 }")));
}

#[tracelite::trace(name = "custom name", kind = server, skip(secret), fields(user.tier = "gold", n = 1 + 1), ret)]
fn options(user: &str, secret: &str) -> String {
    format!("{user}:{}", secret.len())
}

#[tracelite::trace(skip_all)]
fn nothing_recorded(a: u32, b: u32) -> u32 {
    a * b
}

#[test]
fn name_kind_skip_fields_ret() {
    spans();
    assert_eq!(options("ann", "hunter2"), "ann:7");
    let s = named("custom name").pop().unwrap();
    assert_eq!(s.kind, SpanKind::Server);
    assert_eq!(attr(&s, "user"), Some(Value::from("ann")));
    assert_eq!(attr(&s, "secret"), None);
    assert_eq!(attr(&s, "user.tier"), Some(Value::from("gold")));
    assert_eq!(attr(&s, "n"), Some(Value::I64(2)));
    assert_eq!(attr(&s, "return.value"), Some(Value::from("ann:7")));
    assert_eq!(nothing_recorded(3, 4), 12);
    assert!(named("trace_macro::nothing_recorded")
        .pop()
        .unwrap()
        .attributes
        .is_empty());
}

#[derive(Debug)]
struct Failure;

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("it broke")
    }
}

#[tracelite::trace]
fn fallible(fail: bool) -> Result<u8, Failure> {
    if fail {
        return Err(Failure);
    }
    let value: u8 = "5".parse().map_err(|_| Failure)?;
    Ok(value)
}

#[tracelite::trace(err)]
fn explicit_err(x: i64) -> Result<i64, String> {
    if x < 0 {
        Err(format!("negative: {x}"))
    } else {
        Ok(x)
    }
}

#[test]
fn errors_mark_the_span_by_default_for_results() {
    spans();
    assert!(fallible(true).is_err());
    assert_eq!(fallible(false).unwrap(), 5);
    let mut all = named("trace_macro::fallible");
    all.sort_by_key(|s| s.status.is_error());
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].status, Status::Unset);
    assert_eq!(all[1].status, Status::error("it broke"));
    assert_eq!(all[1].events[0].name, "exception");
    assert!(explicit_err(-1).is_err());
    assert!(named("trace_macro::explicit_err")
        .pop()
        .unwrap()
        .status
        .is_error());
}

#[tracelite::trace]
fn outer() -> u32 {
    inner(1) + 1
}

#[tracelite::trace]
fn inner(x: u32) -> u32 {
    x
}

#[test]
fn nested_calls_nest_spans() {
    spans();
    outer();
    let o = named("trace_macro::outer").pop().unwrap();
    let i = named("trace_macro::inner")
        .into_iter()
        .find(|s| s.span_context.trace_id() == o.span_context.trace_id())
        .expect("inner in the same trace");
    assert_eq!(i.parent_span_id, o.span_context.span_id());
}

struct Cart {
    items: Vec<u32>,
}

impl Cart {
    #[tracelite::trace]
    fn total(&self, discount: u32) -> u32 {
        self.items.iter().sum::<u32>() - discount
    }

    #[tracelite::trace]
    fn add(&mut self, item: u32) {
        self.items.push(item);
    }

    #[tracelite::trace(skip(self))]
    async fn checkout(self, note: &str) -> Result<u32, Failure> {
        tokio::task::yield_now().await;
        let _inside = tracelite::tracer("test").start("inside checkout");
        tokio::task::yield_now().await;
        if note == "fail" {
            return Err(Failure);
        }
        Ok(self.items.len() as u32)
    }
}

#[tracelite::trace]
fn generic<T: fmt::Debug + Clone>(value: T, extra: impl Into<u64>) -> u64 {
    let _ = value.clone();
    extra.into()
}

#[tracelite::trace]
fn patterns((a, b): (u32, u32), Order { id }: Order, mut c: u32) -> u32 {
    c += 1;
    a + b + id + c
}

#[test]
fn methods_generics_impl_trait_and_patterns() {
    spans();
    let mut cart = Cart { items: vec![5, 6] };
    cart.add(4);
    assert_eq!(cart.total(3), 12);
    let total = named("trace_macro::total").pop().unwrap();
    assert_eq!(attr(&total, "discount"), Some(Value::I64(3)));
    assert_eq!(named("trace_macro::add").pop().unwrap().attributes.len(), 1);
    assert_eq!(generic(vec![1], 9u8), 9);
    let g = named("trace_macro::generic").pop().unwrap();
    assert_eq!(attr(&g, "value"), Some(Value::from("[1]")));
    // A generic without `Debug` can only say what it is.
    assert_eq!(attr(&g, "extra"), Some(Value::from("<u8>")));
    assert_eq!(patterns((1, 2), Order { id: 3 }, 4), 11);
    let p = named("trace_macro::patterns").pop().unwrap();
    assert_eq!(
        attr(&p, "c"),
        Some(Value::I64(4)),
        "named arguments are recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_functions_cover_the_future_and_stay_current() {
    spans();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            tokio::spawn(async move {
                let cart = Cart { items: vec![1; i] };
                cart.checkout(if i == 3 { "fail" } else { "ok" }).await
            })
        })
        .collect();
    for h in handles {
        let _ = h.await.unwrap();
    }
    let checkouts = named("trace_macro::checkout");
    assert_eq!(checkouts.len(), 8);
    let insides = named("inside checkout");
    for c in &checkouts {
        let children: Vec<_> = insides
            .iter()
            .filter(|s| s.parent_span_id == c.span_context.span_id())
            .collect();
        assert_eq!(
            children.len(),
            1,
            "the span is current across .await on any thread"
        );
        assert!(c.end_time >= children[0].end_time);
        assert_eq!(attr(c, "self"), None);
    }
    assert_eq!(checkouts.iter().filter(|c| c.status.is_error()).count(), 1);
}

#[async_trait::async_trait]
trait Repository {
    async fn load(&self, id: u32) -> Result<String, Failure>;
}

struct Db;

#[async_trait::async_trait]
impl Repository for Db {
    #[tracelite::trace(ret)]
    async fn load(&self, id: u32) -> Result<String, Failure> {
        tokio::task::yield_now().await;
        let _q = tracelite::tracer("test").start("query in load");
        if id == 0 {
            return Err(Failure);
        }
        Ok(format!("row {id}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_trait_methods_are_traced_for_the_whole_future() {
    spans();
    let db: Box<dyn Repository + Send + Sync> = Box::new(Db);
    assert_eq!(db.load(7).await.unwrap(), "row 7");
    assert!(db.load(0).await.is_err());
    let loads = named("trace_macro::load");
    assert_eq!(loads.len(), 2);
    let ok = loads.iter().find(|s| !s.status.is_error()).unwrap();
    assert_eq!(attr(ok, "id"), Some(Value::I64(7)));
    assert_eq!(attr(ok, "return.value"), Some(Value::from("Ok(\"row 7\")")));
    let failed = loads.iter().find(|s| s.status.is_error()).unwrap();
    assert_eq!(failed.status, Status::error("it broke"));
    let query = named("query in load");
    assert!(loads.iter().all(|l| query
        .iter()
        .any(|q| q.parent_span_id == l.span_context.span_id())));
}

#[tracelite::trace]
fn bump(counter: &mut u32, list: &mut Vec<u8>) {
    *counter += 1;
    list.push(1);
}

#[test]
fn mutable_reference_arguments() {
    spans();
    let (mut c, mut l) = (41, vec![]);
    bump(&mut c, &mut l);
    assert_eq!((c, l.len()), (42, 1));
    let s = named("trace_macro::bump").pop().unwrap();
    assert_eq!(
        attr(&s, "counter"),
        Some(Value::I64(41)),
        "recorded at the start"
    );
    assert_eq!(attr(&s, "list"), Some(Value::from("[]")));
}
