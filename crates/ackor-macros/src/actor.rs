//! `#[actor]`: `#[handler]` methods out of an `impl Actor` block into `Handler` impls, and
//! `Actor::remote_messages` written from them.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    Attribute, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, Pat, PatIdent, PatType, Path, ReturnType, Type,
};

/// One `#[handler]` method, taken apart.
struct HandlerFn {
    /// `#[cfg(...)]`s: they go on the impl and on the registration.
    cfgs: Vec<Attribute>,
    /// Every other attribute (docs included): they go on `handle`.
    attrs: Vec<Attribute>,
    /// `#[handler(codec = C)]`.
    codec: Option<Path>,
    receiver: syn::Receiver,
    /// `msg: M`, as written.
    message: PatType,
    /// `ctx: &mut Context<Self>`, when written.
    context: Option<PatType>,
    output: ReturnType,
    /// Written `async fn`; a plain `fn` handles its message at once (`handle_now`).
    asyncness: bool,
    /// The method's name: `handle` gets its span.
    ident: Ident,
    body: syn::Block,
}

impl HandlerFn {
    fn message_type(&self) -> &Type {
        &self.message.ty
    }
}

/// Expands `#[actor]` on `item`.
pub(crate) fn expand(args: TokenStream, mut item: ItemImpl) -> syn::Result<TokenStream> {
    if !args.is_empty() {
        return Err(syn::Error::new_spanned(
            args,
            "#[ackor::actor] takes no arguments",
        ));
    }
    check_is_actor_impl(&item)?;

    let mut handlers = Vec::new();
    let mut kept = Vec::new();
    let mut errors: Option<syn::Error> = None;
    for it in std::mem::take(&mut item.items) {
        match it {
            ImplItem::Fn(f) if f.attrs.iter().any(is_handler_attr) => match parse_handler(f) {
                Ok(h) => handlers.push(h),
                Err(e) => match &mut errors {
                    Some(all) => all.combine(e),
                    None => errors = Some(e),
                },
            },
            other => kept.push(other),
        }
    }
    // A handler that does not parse is left out; the rest is still generated, so the
    // error is the only one (no unused imports, no missing `Actor` impl).
    let errors = errors.map(syn::Error::into_compile_error);

    let registrations = registrations(&handlers);
    if !handlers.is_empty() {
        let written = kept.iter_mut().find_map(|it| match it {
            ImplItem::Fn(f) if f.sig.ident == "remote_messages" => Some(f),
            _ => None,
        });
        match written {
            Some(f) => prepend_registrations(f, &registrations)?,
            None => {
                let messages = Ident::new("messages", Span::call_site());
                let body = registrations(&messages);
                kept.push(syn::parse_quote! {
                    fn remote_messages(#messages: &mut ::ackor::RemoteMessages<Self>) #body
                });
            }
        }
    }
    item.items = kept;

    let impls = handlers.iter().map(|h| handler_impl(&item, h));
    Ok(quote! {
        #errors
        #item
        #(#impls)*
    })
}

fn check_is_actor_impl(item: &ItemImpl) -> syn::Result<()> {
    let message = "#[ackor::actor] goes on an `impl Actor for Type` block";
    match &item.trait_ {
        Some((None, path, _)) if path.segments.last().is_some_and(|s| s.ident == "Actor") => Ok(()),
        Some((_, path, _)) => Err(syn::Error::new_spanned(path, message)),
        None => Err(syn::Error::new(item.impl_token.span, message)),
    }
}

fn is_handler_attr(attr: &Attribute) -> bool {
    attr.path().is_ident("handler")
}

/// The usage line every error about a handler's shape ends with.
const SHAPE: &str =
    "a handler is `[async] fn name(&mut self, msg: Message[, ctx: &mut Context<Self>]) [-> Return]`";

fn parse_handler(f: ImplItemFn) -> syn::Result<HandlerFn> {
    let mut codec = None;
    let mut cfgs = Vec::new();
    let mut attrs = Vec::new();
    for attr in f.attrs {
        if is_handler_attr(&attr) {
            if let syn::Meta::List(_) = attr.meta {
                attr.parse_nested_meta(|meta| {
                    if meta.path.is_ident("codec") {
                        if codec.is_some() {
                            return Err(meta.error("`codec` is given twice"));
                        }
                        codec = Some(meta.value()?.parse::<Path>()?);
                        Ok(())
                    } else {
                        Err(meta.error("unknown key in #[handler(...)]: expected `codec = Type`"))
                    }
                })?;
            }
        } else if attr.path().is_ident("cfg") {
            cfgs.push(attr);
        } else {
            attrs.push(attr);
        }
    }
    let sig = f.sig;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "a handler cannot have generic parameters of its own: it handles one message type",
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new_spanned(v, SHAPE));
    }
    let mut inputs = sig.inputs.into_iter();
    let receiver = match inputs.next() {
        Some(FnArg::Receiver(r))
            if r.reference.is_some() && r.mutability.is_some() && r.colon_token.is_none() =>
        {
            r
        }
        Some(other) => {
            return Err(syn::Error::new_spanned(
                other,
                format!("a handler takes `&mut self` first; {SHAPE}"),
            ));
        }
        None => {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                format!("a handler takes `&mut self` and the message; {SHAPE}"),
            ));
        }
    };
    let message = match inputs.next() {
        Some(FnArg::Typed(t)) => t,
        Some(other) => return Err(syn::Error::new_spanned(other, SHAPE)),
        None => {
            return Err(syn::Error::new(
                sig.paren_token.span.join(),
                format!("this handler has no message parameter: add one after `&mut self`; {SHAPE}"),
            ));
        }
    };
    let context = match inputs.next() {
        Some(FnArg::Typed(t)) => Some(t),
        Some(other) => return Err(syn::Error::new_spanned(other, SHAPE)),
        None => None,
    };
    if let Some(extra) = inputs.next() {
        return Err(syn::Error::new_spanned(
            extra,
            format!("too many parameters; {SHAPE}"),
        ));
    }
    Ok(HandlerFn {
        cfgs,
        attrs,
        codec,
        receiver,
        message,
        context,
        output: sig.output,
        asyncness: sig.asyncness.is_some(),
        ident: sig.ident,
        body: f.block,
    })
}

/// `impl Handler<M> for X` for one handler.
fn handler_impl(item: &ItemImpl, h: &HandlerFn) -> TokenStream {
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let self_ty = &item.self_ty;
    let msg_ty = h.message_type();
    let return_ty = match &h.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    let handle = Ident::new("handle", h.ident.span());
    let handle_now = Ident::new("handle_now", h.ident.span());
    let (cfgs, attrs, receiver, message, output, body) =
        (&h.cfgs, &h.attrs, &h.receiver, &h.message, &h.output, &h.body);
    let context = match &h.context {
        Some(c) => c.to_token_stream(),
        None => quote!(_: &mut ::ackor::Context<Self>),
    };
    let header = quote_spanned! {msg_ty.span()=>
        impl #impl_generics ::ackor::Handler<#msg_ty> for #self_ty #where_clause
    };
    if h.asyncness {
        return quote! {
            #(#cfgs)*
            #header {
                type Return = #return_ty;
                #(#attrs)*
                async fn #handle(#receiver, #message, #context) #output #body
            }
        };
    }
    // A plain `fn`: its body becomes `handle_now` (the message is handled with no future
    // made for it), run as a closure so that a `return` in it returns the reply. The
    // required `handle` calls it. (Not a method of the actor's own holding the body: two
    // handlers may share a name, and an `impl Actor` for a type of another crate, such
    // as a `Box`, allows no inherent methods.)
    quote! {
        #(#cfgs)*
        #header {
            type Return = #return_ty;
            async fn #handle(
                &mut self,
                msg: #msg_ty,
                ctx: &mut ::ackor::Context<Self>,
            ) -> #return_ty {
                match <Self as ::ackor::Handler<#msg_ty>>::handle_now(self, msg, ctx) {
                    ::core::result::Result::Ok(reply) => reply,
                    ::core::result::Result::Err(_) => {
                        ::core::unreachable!("a plain `fn` handler takes every message at once")
                    }
                }
            }
            #(#attrs)*
            fn #handle_now(
                #receiver,
                #message,
                #context,
            ) -> ::core::result::Result<#return_ty, #msg_ty> {
                ::core::result::Result::Ok((move || #output #body)())
            }
        }
    }
}

/// The registration statements, as a function of the `RemoteMessages` variable's name.
fn registrations(handlers: &[HandlerFn]) -> impl Fn(&Ident) -> syn::Block + '_ {
    move |messages| {
        let each = handlers.iter().map(|h| {
            let msg_ty = h.message_type();
            let cfgs = &h.cfgs;
            match &h.codec {
                Some(codec) => quote_spanned! {codec.span()=>
                    #(#cfgs)*
                    #messages.add_with::<#msg_ty, #codec>();
                },
                None => quote_spanned! {msg_ty.span()=>
                    #(#cfgs)*
                    (&::ackor::__private::Probe::<Self, #msg_ty>::new()).register(#messages);
                },
            }
        });
        syn::parse_quote! {{
            // Registers each handled message that is a `RemoteMessage` (`ViaRemote`) and
            // skips the others (`ViaLocal`): autoref specialization on concrete types.
            #[allow(unused_imports)]
            use ::ackor::__private::{ViaLocal as _, ViaRemote as _};
            #(#each)*
        }}
    }
}

/// Puts the generated registrations before the body of a `remote_messages` the user
/// wrote.
fn prepend_registrations(
    f: &mut ImplItemFn,
    registrations: &impl Fn(&Ident) -> syn::Block,
) -> syn::Result<()> {
    let Some(FnArg::Typed(param)) = f.sig.inputs.first_mut() else {
        return Err(syn::Error::new_spanned(
            &f.sig.inputs,
            "`remote_messages` takes `messages: &mut RemoteMessages<Self>`",
        ));
    };
    let messages = match &*param.pat {
        Pat::Ident(PatIdent {
            ident, subpat: None, ..
        }) => ident.clone(),
        _ => {
            // `_` or another pattern: the user's body cannot name it, so give it one.
            let ident = Ident::new("__ackor_messages", Span::call_site());
            *param.pat = syn::parse_quote!(#ident);
            ident
        }
    };
    let generated = registrations(&messages);
    let user = &f.block;
    f.block = syn::parse_quote! {{
        #generated
        #user
    }};
    Ok(())
}
