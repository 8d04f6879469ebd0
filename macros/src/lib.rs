//! Procedural macros for [TraceLite](https://docs.rs/tracelite): the
//! `#[trace]` attribute. Depend on `tracelite` (feature `macros`, on by
//! default) and write `#[tracelite::trace]`.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{parse_macro_input, Expr, FnArg, Ident, ItemFn, LitStr, Pat, ReturnType, Token, Type};

/// Traces a function: a span for each call, named `module::function` (or
/// `name = "..."`), a child of the current context, with the arguments as
/// attributes.
///
/// ```ignore
/// #[tracelite::trace(kind = server, skip(password), fields(user.tier = tier(&user)), ret)]
/// async fn login(user: &str, password: &str, attempts: u32) -> Result<Session, LoginError> {
///     /* ... */
/// }
/// ```
///
/// - `name = "..."` — the span name (default `module::function`);
/// - `kind = internal | server | client | producer | consumer`;
/// - `skip(a, b)` / `skip_all` — arguments not recorded;
/// - `fields(key = expr, ...)` — extra attributes (keys may be dotted);
/// - `ret` — record the return value as `return.value`;
/// - `err` — record an `Err` as status Error with an `exception` event
///   (the default whenever the function returns `Result`).
///
/// Integers, floats, booleans and strings are recorded as typed values,
/// anything else through `Debug`. For `async fn` the span covers the whole
/// future and is current on every poll. With no global provider installed
/// the cost is one check and no allocation.
#[proc_macro_attribute]
pub fn trace(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = parse_macro_input!(args as Args);
    let item = parse_macro_input!(item as ItemFn);
    match expand(args, item) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

#[derive(Default)]
struct Args {
    name: Option<LitStr>,
    kind: Option<Ident>,
    skip: Vec<Ident>,
    skip_all: bool,
    fields: Vec<(String, Expr)>,
    ret: bool,
    err: Option<Span>,
}

enum Arg {
    Name(LitStr),
    Kind(Ident),
    Skip(Vec<Ident>),
    SkipAll,
    Fields(Vec<(String, Expr)>),
    Ret,
    Err(Span),
}

fn dotted_key(input: ParseStream<'_>) -> syn::Result<String> {
    if input.peek(LitStr) {
        return Ok(input.parse::<LitStr>()?.value());
    }
    let mut key = input.call(Ident::parse_any_ident)?.to_string();
    while input.peek(Token![.]) {
        input.parse::<Token![.]>()?;
        key.push('.');
        key.push_str(&input.call(Ident::parse_any_ident)?.to_string());
    }
    Ok(key)
}

trait ParseAny {
    fn parse_any_ident(input: ParseStream<'_>) -> syn::Result<Ident>;
}

impl ParseAny for Ident {
    fn parse_any_ident(input: ParseStream<'_>) -> syn::Result<Ident> {
        use syn::ext::IdentExt;
        Ident::parse_any(input)
    }
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Arg> {
        let ident: Ident = input.call(Ident::parse_any_ident)?;
        match ident.to_string().as_str() {
            "name" => {
                input.parse::<Token![=]>()?;
                Ok(Arg::Name(input.parse()?))
            }
            "kind" => {
                input.parse::<Token![=]>()?;
                let kind: Ident = input.parse()?;
                match kind.to_string().as_str() {
                    "internal" | "server" | "client" | "producer" | "consumer" => Ok(Arg::Kind(kind)),
                    _ => Err(syn::Error::new(
                        kind.span(),
                        "unknown span kind: use internal, server, client, producer or consumer",
                    )),
                }
            }
            "skip" => {
                let content;
                syn::parenthesized!(content in input);
                let names: Punctuated<Ident, Token![,]> =
                    content.parse_terminated(Ident::parse_any_ident, Token![,])?;
                Ok(Arg::Skip(names.into_iter().collect()))
            }
            "skip_all" => Ok(Arg::SkipAll),
            "fields" => {
                let content;
                syn::parenthesized!(content in input);
                let mut fields = Vec::new();
                while !content.is_empty() {
                    let key = dotted_key(&content)?;
                    content.parse::<Token![=]>()?;
                    let value: Expr = content.parse()?;
                    fields.push((key, value));
                    if content.is_empty() {
                        break;
                    }
                    content.parse::<Token![,]>()?;
                }
                Ok(Arg::Fields(fields))
            }
            "ret" => Ok(Arg::Ret),
            "err" => Ok(Arg::Err(ident.span())),
            other => Err(syn::Error::new(
                ident.span(),
                format!(
                    "unknown argument `{other}`: expected name, kind, skip, skip_all, fields, ret or err"
                ),
            )),
        }
    }
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Args> {
        let mut args = Args::default();
        let list: Punctuated<Arg, Token![,]> = Punctuated::parse_terminated(input)?;
        for arg in list {
            match arg {
                Arg::Name(n) => args.name = Some(n),
                Arg::Kind(k) => args.kind = Some(k),
                Arg::Skip(s) => args.skip.extend(s),
                Arg::SkipAll => args.skip_all = true,
                Arg::Fields(f) => args.fields.extend(f),
                Arg::Ret => args.ret = true,
                Arg::Err(span) => args.err = Some(span),
            }
        }
        Ok(args)
    }
}

fn returns_result(output: &ReturnType) -> bool {
    match output {
        ReturnType::Type(_, ty) => match &**ty {
            Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
            _ => false,
        },
        ReturnType::Default => false,
    }
}

/// The `async move { .. }` block of a body that is only
/// `Box::pin(async move { .. })`, as `#[async_trait]` writes it.
fn async_trait_body(block: &syn::Block) -> Option<&syn::ExprAsync> {
    let [syn::Stmt::Expr(Expr::Call(call), None)] = block.stmts.as_slice() else {
        return None;
    };
    let Expr::Path(path) = &*call.func else {
        return None;
    };
    let names: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    if !names.ends_with(&["Box".to_string(), "pin".to_string()]) || call.args.len() != 1 {
        return None;
    }
    match &call.args[0] {
        Expr::Async(a) => Some(a),
        _ => None,
    }
}

fn contains_impl(ty: &Type) -> bool {
    ty.to_token_stream().to_string().contains("impl")
}

fn expand(args: Args, mut item: ItemFn) -> syn::Result<TokenStream2> {
    let fn_name = item.sig.ident.to_string();
    // `skip(x)` must name an argument.
    let arg_names: Vec<String> = item
        .sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Typed(t) => match &*t.pat {
                Pat::Ident(p) => Some(p.ident.to_string()),
                _ => None,
            },
            FnArg::Receiver(_) => Some("self".into()),
        })
        .collect();
    for s in &args.skip {
        if !arg_names.contains(&s.to_string()) {
            return Err(syn::Error::new(
                s.span(),
                format!("`{s}` is not an argument of `{fn_name}`"),
            ));
        }
    }
    let is_result = returns_result(&item.sig.output);
    if let (Some(span), false) = (args.err, is_result) {
        return Err(syn::Error::new(
            span,
            "`err` needs a function that returns `Result`",
        ));
    }
    let name = match &args.name {
        Some(n) => quote!(#n),
        None => quote!(concat!(module_path!(), "::", #fn_name)),
    };
    let kind = match args.kind.as_ref().map(|k| k.to_string()) {
        Some(k) => {
            let variant = Ident::new(
                match k.as_str() {
                    "server" => "Server",
                    "client" => "Client",
                    "producer" => "Producer",
                    "consumer" => "Consumer",
                    _ => "Internal",
                },
                Span::call_site(),
            );
            quote!(::tracelite::SpanKind::#variant)
        }
        None => quote!(::tracelite::SpanKind::Internal),
    };

    // What to record at the start: the arguments, then the fields.
    let mut records = Vec::new();
    if !args.skip_all {
        for input in &item.sig.inputs {
            let FnArg::Typed(t) = input else { continue };
            let Pat::Ident(p) = &*t.pat else { continue };
            let ident = &p.ident;
            if args.skip.iter().any(|s| s == ident) {
                continue;
            }
            let key = ident.to_string();
            let key = key.strip_prefix("r#").unwrap_or(&key).to_string();
            records.push(quote_spanned! {t.span()=>
                {
                    #[allow(unused_imports)]
                    use ::tracelite::macro_support::{ViaDebug as _, ViaType as _, ViaValue as _};
                    ::tracelite::macro_support::record(
                        __tl_span, #key, (&&::tracelite::macro_support::Wrap(&#ident)).tl_value());
                }
            });
        }
    }
    for (key, value) in &args.fields {
        records.push(quote_spanned! {value.span()=>
            {
                #[allow(unused_imports)]
                use ::tracelite::macro_support::{ViaDebug as _, ViaType as _, ViaValue as _};
                let __tl_value = #value;
                ::tracelite::macro_support::record(
                    __tl_span, #key, (&&::tracelite::macro_support::Wrap(&__tl_value)).tl_value());
            }
        });
    }

    let record_err = is_result;
    let record_ret = args.ret;
    let output_ty = match &item.sig.output {
        ReturnType::Type(_, ty) if !contains_impl(ty) => Some((**ty).clone()),
        ReturnType::Type(..) => None,
        ReturnType::Default => Some(syn::parse_quote!(())),
    };
    let annotate = output_ty.as_ref().map(|t| quote!(: #t));
    let after = {
        let ret = record_ret.then(|| {
            quote! {
                {
                    #[allow(unused_imports)]
                    use ::tracelite::macro_support::{ViaDebug as _, ViaType as _, ViaValue as _};
                    ::tracelite::macro_support::record(
                        __tl_span, "return.value", (&&::tracelite::macro_support::Wrap(&__tl_result)).tl_value());
                }
            }
        });
        let err = record_err.then(|| {
            quote! {
                ::tracelite::macro_support::MaybeError::record_on(&__tl_result, __tl_span);
            }
        });
        quote! { if let ::core::option::Option::Some(__tl_span) = &__tl_span { #ret #err } }
    };
    let body = &item.block;
    let start = quote! {
        static __TL_SITE: ::tracelite::macro_support::Site =
            ::tracelite::macro_support::Site::new(env!("CARGO_PKG_NAME"));
        let __tl_span = ::tracelite::macro_support::start(&__TL_SITE, #name, #kind);
        if let ::core::option::Option::Some(__tl_span) = &__tl_span {
            if __tl_span.is_recording() { #(#records)* }
        }
    };
    if item.sig.asyncness.is_none() {
        if let Some(inner) = async_trait_body(&item.block) {
            // `#[async_trait]` has turned `async fn` into a function that
            // returns `Box::pin(async move { .. })`: trace the future.
            let ret = record_ret.then(|| {
                quote! {
                    #[allow(unused_imports)]
                    use ::tracelite::macro_support::{ViaDebug as _, ViaType as _, ViaValue as _};
                    ::tracelite::macro_support::record(
                        __tl_span, "return.value", (&&::tracelite::macro_support::Wrap(&__tl_result)).tl_value());
                }
            });
            let new_body = quote! {{
                #start
                let __tl_cx = __tl_span.as_ref().map(|s| s.context());
                ::std::boxed::Box::pin(async move {
                    let __tl_span = __tl_span;
                    let __tl_result = ::tracelite::macro_support::traced(#inner, __tl_cx).await;
                    if let ::core::option::Option::Some(__tl_span) = &__tl_span {
                        #ret
                        #[allow(unused_imports)]
                        use ::tracelite::macro_support::{NotResult as _, ViaResult as _};
                        (&&::tracelite::macro_support::Wrap(&__tl_result)).tl_record_err(__tl_span);
                    }
                    __tl_result
                })
            }};
            item.block = syn::parse2(new_body)?;
            return Ok(item.into_token_stream());
        }
    }
    let new_body = if item.sig.asyncness.is_some() {
        quote! {{
            #start
            let __tl_cx = __tl_span.as_ref().map(|s| s.context());
            let __tl_result #annotate = ::tracelite::macro_support::traced(async move #body, __tl_cx).await;
            #after
            __tl_result
        }}
    } else if record_ret || record_err {
        quote! {{
            #start
            let __tl_guard = __tl_span.as_ref().map(|s| s.enter());
            #[allow(clippy::redundant_closure_call)]
            let __tl_result #annotate = (move || #body)();
            drop(__tl_guard);
            #after
            __tl_result
        }}
    } else {
        quote! {{
            #start
            let __tl_guard = __tl_span.as_ref().map(|s| s.enter());
            #body
        }}
    };
    item.block = syn::parse2(new_body)?;
    Ok(item.into_token_stream())
}
