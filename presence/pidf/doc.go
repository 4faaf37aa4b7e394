// Package pidf is a codec for presence documents: the Presence Information
// Data Format of RFC 3863 with the extensions SIP presence uses.
//
// What is implemented:
//
//   - RFC 3863 (PIDF) §4.1: <presence entity>, <tuple id> with <status>
//     and <basic> open|closed, <contact priority>, <note xml:lang> and
//     <timestamp>, and presence-level notes.
//   - RFC 4479 (data model) §3.3–3.4: dm:person and dm:device with their
//     dm:note, dm:timestamp and dm:deviceID.
//   - RFC 4480 (RPID) §3.1 activities (on-the-phone, busy, away, meeting,
//     appointment, holiday, unknown, ... and <rpid:other> text), §3.2 class,
//     §3.4 mood, §3.6 place-type (RFC 4589 location types), §3.7 privacy,
//     §3.13 user-input with idle-threshold and last-input. Other RPID
//     elements (sphere, relationship, status-icon, time-offset, ...) are
//     kept as extensions.
//   - RFC 4482 (CIPID) §2: display-name, card, homepage, icon, map, sound,
//     in a tuple or a person (and, as some clients send it, directly under
//     <presence>).
//   - The legacy form of the RPID draft still sent by AudioCodes gateways and
//     older eXosip/linphone/SIPE clients: namespace
//     urn:ietf:params:xml:ns:pidf:status:rpid-status with
//     <ep:activities><ep:activity>on-the-phone</ep:activity></ep:activities>
//     inside <status>. It is always read (into Status.Activities) and is
//     written with EncodeOptions{Legacy: true}.
//
// Parse accepts whatever namespace prefixes the sender chose; Encode writes
// the PIDF namespace as default and the prefixes dm, rpid, ci, lt and ep.
// Elements and attributes the model does not know are kept (Extension,
// Attrs) and written back, so decode → encode → decode gives the same
// Document.
//
// # Why encoding/xml is enough, and how it is used
//
// encoding/xml's Unmarshal and Encoder are not used: Unmarshal forgets the
// prefixes and namespace declarations an unknown element depends on, and
// Encoder writes generated prefixes (xmlns:_xmlns and the like). Parse uses
// only the tokenizer (Decoder.RawToken, in strict mode, with no entity
// expansion) and resolves namespaces itself into a small element tree, so
// an unknown element is re-emitted with the sender's own prefixes and with
// every binding it inherits declared on its root (a self-contained
// fragment). Encode writes the XML directly. Documents above MaxSize,
// nesting deeper than MaxDepth or holding more than MaxElements elements
// are rejected with ErrTooLarge; malformed input gives an error wrapping
// ErrMalformed and never a panic. Encodings other than UTF-8 (and its
// ASCII subset) are refused.
//
// Summary gives what a watcher shows: basic status, activities, a note and
// a display name.
package pidf
