//! /api/auth (set-up, sign-in, sign-out, one's own account), /api/tokens (personal API
//! tokens) and /api/admin (accounts and instance-wide usage figures).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AppState;
use super::auth::{ClientAddr, CurrentUser, login_cookie, logout_cookie, not_cross_site};
use super::error::ApiError;
use super::extract::{ApiJson, parse_id};
use crate::accounts::{AccountInput, Credential};
use crate::domain::{User, UserRole};

fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

fn address(a: ClientAddr) -> String {
    a.0.map_or_else(|| "unknown".into(), |ip| ip.to_string())
}

/// Whether the first account still has to be created.
pub async fn state(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "setup_required": s.accounts.setup_required().await? }),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    username: String,
    password: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
}

/// Creates the first account (an admin) and signs it in.
pub async fn setup(
    State(s): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignUp>,
) -> Result<Response, ApiError> {
    if !not_cross_site(&headers) {
        return Err(super::auth::cross_origin());
    }
    let (user, token) = s
        .accounts
        .setup(
            AccountInput {
                username: body.username,
                password: Some(body.password),
                display_name: body.display_name,
                time_zone: body.time_zone,
                role: None,
            },
            user_agent(&headers),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        [(header::SET_COOKIE, login_cookie(&s, &headers, &token))],
        Json(json!({ "user": user })),
    )
        .into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    username: String,
    password: String,
}

pub async fn login(
    State(s): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignIn>,
) -> Result<Response, ApiError> {
    if !not_cross_site(&headers) {
        return Err(super::auth::cross_origin());
    }
    let (user, token) = s
        .accounts
        .login(
            &body.username,
            &body.password,
            &address(addr),
            user_agent(&headers),
        )
        .await?;
    Ok((
        [(header::SET_COOKIE, login_cookie(&s, &headers, &token))],
        Json(json!({ "user": user })),
    )
        .into_response())
}

pub async fn logout(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
) -> Result<Response, ApiError> {
    s.accounts.logout(&me).await?;
    Ok((
        [(header::SET_COOKIE, logout_cookie())],
        Json(json!({ "signed_out": true })),
    )
        .into_response())
}

fn auth_kind(c: &Credential) -> &'static str {
    match c {
        Credential::Cookie(_) => "session",
        Credential::Token(_) => "token",
        Credential::TrustedHeader => "single_sign_on",
    }
}

pub async fn me(CurrentUser(me): CurrentUser) -> Json<Value> {
    Json(json!({ "user": me.user, "auth": auth_kind(&me.credential) }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    #[serde(default)]
    display_name: Option<String>,
    /// An IANA name; `""` or `null` goes back to the instance default.
    #[serde(default, deserialize_with = "some_or_null")]
    #[schemars(with = "Option<String>")]
    time_zone: Option<Option<String>>,
}

/// Tells a missing field (`None`) from an explicit `null` (`Some(None)`).
fn some_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

pub async fn update_me(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiJson(body): ApiJson<ProfileUpdate>,
) -> Result<Json<Value>, ApiError> {
    if body.display_name.is_none() && body.time_zone.is_none() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "send display_name and/or time_zone",
        ));
    }
    let tz = body.time_zone.map(|z| z.unwrap_or_default());
    let user = s
        .accounts
        .update_profile(&me, body.display_name.as_deref(), tz.as_deref())
        .await?;
    Ok(Json(json!({ "user": user })))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

pub async fn change_password(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    addr: ClientAddr,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<Json<Value>, ApiError> {
    s.accounts
        .change_password(
            &me,
            &body.current_password,
            &body.new_password,
            &address(addr),
        )
        .await?;
    Ok(Json(json!({ "changed": true })))
}

// ---------------------------------------------------------------- tokens

pub async fn tokens(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "tokens": s.accounts.tokens(&me).await? })))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
}

pub async fn create_token(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<Response, ApiError> {
    let (token, secret) = s.accounts.create_token(&me, &body.name).await?;
    let mut v = serde_json::to_value(&token).unwrap_or_default();
    v["token"] = json!(secret);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub async fn revoke_token(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    axum::extract::Path(raw): axum::extract::Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&raw, "token id")?;
    s.accounts.revoke_token(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- admin

pub async fn users(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "users": s.accounts.accounts().await? })))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    username: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    role: Option<UserRole>,
    #[serde(default)]
    time_zone: Option<String>,
}

#[derive(Serialize)]
struct Created {
    user: User,
    /// Shown once, when the admin left the password to opschat.
    #[serde(skip_serializing_if = "Option::is_none")]
    temporary_password: Option<String>,
}

pub async fn create_user(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<NewAccount>,
) -> Result<Response, ApiError> {
    let (user, temporary_password) = s
        .accounts
        .create_account(AccountInput {
            username: body.username,
            password: body.password,
            display_name: body.display_name,
            time_zone: body.time_zone,
            role: Some(body.role.unwrap_or(UserRole::Manager)),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            user,
            temporary_password,
        }),
    )
        .into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    #[serde(default)]
    role: Option<UserRole>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    display_name: Option<String>,
}

pub async fn update_user(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    axum::extract::Path(raw): axum::extract::Path<String>,
    ApiJson(body): ApiJson<AccountUpdate>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw, "user id")?;
    if body.role.is_none() && body.disabled.is_none() && body.display_name.is_none() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "send role, disabled and/or display_name",
        ));
    }
    let user = s
        .accounts
        .admin_update(
            Some(&me),
            id,
            body.role,
            body.disabled,
            body.display_name.as_deref(),
        )
        .await?;
    Ok(Json(json!({ "user": user })))
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    #[serde(default)]
    password: Option<String>,
}

pub async fn reset_password(
    State(s): State<AppState>,
    CurrentUser(me): CurrentUser,
    axum::extract::Path(raw): axum::extract::Path<String>,
    ApiJson(body): ApiJson<PasswordReset>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw, "user id")?;
    let generated = s
        .accounts
        .admin_reset_password(Some(&me), id, body.password.as_deref())
        .await?;
    let mut v = json!({ "reset": true });
    if let Some(p) = generated {
        v["temporary_password"] = json!(p);
    }
    Ok(Json(v))
}
