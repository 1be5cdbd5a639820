//! `#[derive(Message)]` and `#[derive(RemoteMessage)]`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, Expr, ExprLit, Lit, LitStr, Type};

/// `impl ::ackor::Message`, from `#[message(reply = Type, interleave)]`.
pub(crate) fn derive_message(input: &DeriveInput) -> syn::Result<TokenStream> {
    let mut reply: Option<Type> = None;
    let mut interleave = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("message")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("reply") {
                if reply.is_some() {
                    return Err(meta.error("`reply` is given twice"));
                }
                reply = Some(meta.value()?.parse()?);
                Ok(())
            } else if meta.path.is_ident("interleave") {
                if interleave {
                    return Err(meta.error("`interleave` is given twice"));
                }
                interleave = true;
                Ok(())
            } else {
                Err(meta.error("unknown key in #[message(...)]: expected `reply = Type` or `interleave`"))
            }
        })?;
    }
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let reply = match reply {
        Some(ty) => quote!(#ty),
        None => quote!(()),
    };
    let interleave = interleave.then(|| {
        quote!(
            const INTERLEAVE: bool = true;
        )
    });
    Ok(quote_spanned! {name.span()=>
        #[automatically_derived]
        impl #impl_generics ::ackor::Message for #name #ty_generics #where_clause {
            type Reply = #reply;
            #interleave
        }
    })
}

/// `impl ::ackor::RemoteMessage`, from the required `#[remote(tag = "...")]`.
pub(crate) fn derive_remote_message(input: &DeriveInput) -> syn::Result<TokenStream> {
    let name = &input.ident;
    let mut tag: Option<LitStr> = None;
    let mut seen = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("remote")) {
        seen = Some(attr.span());
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("tag") {
                if tag.is_some() {
                    return Err(meta.error("`tag` is given twice"));
                }
                let value: Expr = meta.value()?.parse()?;
                let lit = match value {
                    Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => s,
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            "the tag must be a string literal, e.g. `tag = \"myapp.deposit.v1\"`",
                        ));
                    }
                };
                if lit.value().trim().is_empty() {
                    return Err(syn::Error::new(
                        lit.span(),
                        "the tag must not be empty: it names the message type on the wire, \
                         e.g. `tag = \"myapp.deposit.v1\"`",
                    ));
                }
                tag = Some(lit);
                Ok(())
            } else {
                Err(meta.error("unknown key in #[remote(...)]: expected `tag = \"...\"`"))
            }
        })?;
    }
    let Some(tag) = tag else {
        let message = "a remote message needs its stable wire tag: add \
                       `#[remote(tag = \"myapp.message.v1\")]`";
        return Err(syn::Error::new(seen.unwrap_or_else(|| name.span()), message));
    };
    let (impl_generics, ty_generics, _) = input.generics.split_for_impl();
    let mut generics = input.generics.clone();
    if !generics.params.is_empty() {
        // A generic message is remote for the parameters that make it and its reply serde
        // types (as serde's derives bound each parameter). Not for a concrete type: a
        // bound that cannot hold there would be an error of its own, not the plain
        // "`X: Serialize` is not satisfied".
        let serde = quote!(::ackor::__private::serde);
        let predicates = [
            syn::parse_quote!(#name #ty_generics: #serde::Serialize + #serde::de::DeserializeOwned),
            syn::parse_quote!(
                <#name #ty_generics as ::ackor::Message>::Reply: #serde::Serialize + #serde::de::DeserializeOwned
            ),
        ];
        generics
            .make_where_clause()
            .predicates
            .extend::<[syn::WherePredicate; 2]>(predicates);
    }
    let where_clause = &generics.where_clause;
    Ok(quote_spanned! {name.span()=>
        #[automatically_derived]
        impl #impl_generics ::ackor::RemoteMessage for #name #ty_generics #where_clause {
            const TAG: &'static str = #tag;
        }
    })
}
