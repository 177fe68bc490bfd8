// Package websession is the browser's session at Weft: the cookies (session, device,
// CSRF) with their security settings decided in one place, and Browser, which resumes
// the browser's live login session (cookie valid, session not ended, user active). The
// authorization endpoint and the login, consent and logout pages share it.
package websession
