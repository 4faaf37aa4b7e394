// Package rlmi is a codec for the Resource List Meta-Information of RFC
// 4662 and for the multipart/related NOTIFY bodies that carry it.
//
// What is implemented:
//
//   - RFC 4662 §5.2: <list uri version fullState> with <name xml:lang>,
//     <resource uri> with names and <instance id state reason cid>. Version
//     and FullState are exposed; their sequencing (§5.4: full state first,
//     then partial updates, a version gap means lost state) is the
//     subscriber's job.
//   - RFC 4662 §5.1 and RFC 2387: the multipart/related body with the RLMI
//     document as root part (the start parameter, else the first part) and
//     one part per instance that has state, found by matching the
//     instance's cid with the part's Content-ID with or without angle
//     brackets (Decode), and the same body built for a notifier (Encode).
//     Parts are split with sip.ParseMultipart.
//   - Extra instance attributes are kept in Instance.Attrs. Microsoft
//     Lync/Skype for Business servers report a failed back-end subscription
//     of one resource there (state="terminated" reason="forbidden" with
//     the SIP status code and the ms-diagnostics code); Instance.StatusCode
//     and Instance.Diagnostics read them under several spellings
//     (statusCode, ms-diagnostics, diagCode, ...; see their docs). SIPE
//     shows that the same servers also use state="resubscribe" with a
//     poolFqdn attribute ([MS-PRES] §3.4.5.1.3), which are kept as they
//     are. Kamailio's rls module writes only the RFC attributes (id, state,
//     reason, cid).
//
// Unknown elements and attributes are kept and written back, with the
// sender's prefixes (see Extension). Parsing uses encoding/xml's tokenizer
// (Decoder.RawToken, strict, no entity expansion) with namespace
// resolution done here, for the reasons given in package presence/pidf.
// Bodies over MaxSize, nesting over MaxDepth or more than MaxElements
// elements give ErrTooLarge; malformed input gives an error wrapping
// ErrMalformed, never a panic.
package rlmi
