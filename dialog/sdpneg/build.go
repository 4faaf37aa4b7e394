package sdpneg

import (
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// newDesc returns the session part of our next SDP (RFC 4566 §5: v o s c t).
// An answer copies the offer's t= line (RFC 3264 §6).
func (n *Negotiator) newDesc(offer *sdp.SessionDescription) *sdp.SessionDescription {
	user, name := n.caps.Username, n.caps.SessionName
	if user == "" {
		user = "-"
	}
	if name == "" {
		name = "-"
	}
	d := &sdp.SessionDescription{
		Origin: sdp.Origin{
			Username:       user,
			SessionID:      n.sessID,
			NetworkType:    "IN",
			AddressType:    n.addrType,
			UnicastAddress: n.caps.Address,
		},
		SessionName: sdp.SessionName(name),
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: n.addrType,
			Address:     &sdp.Address{Address: n.caps.Address},
		},
	}
	if offer != nil && len(offer.TimeDescriptions) > 0 {
		d.TimeDescriptions = []sdp.TimeDescription{{Timing: offer.TimeDescriptions[0].Timing}}
	} else {
		d.TimeDescriptions = []sdp.TimeDescription{{}}
	}
	return d
}

// localDir is the direction we want for m, with hold applied to RTP
// streams (RFC 3264 §8.4: sendrecv → sendonly, recvonly → inactive).
func (n *Negotiator) localDir(m *Media) Direction {
	d := m.Direction
	if n.hold && m.isRTP() {
		d = d.Intersect(SendOnly)
	}
	return d
}

func (n *Negotiator) mediaConn(md *sdp.MediaDescription, m *Media) {
	if m.Address == "" || m.Address == n.caps.Address {
		return
	}
	at, _ := addrType(m.Address)
	md.ConnectionInformation = &sdp.ConnectionInformation{
		NetworkType: "IN", AddressType: at, Address: &sdp.Address{Address: m.Address},
	}
}

// buildOffer lays out an offer: the m= lines of the active session first,
// in place, each either kept by the same local stream or disabled with port
// 0 (RFC 3264 §8: a new offer never has fewer m= lines), then the local
// streams not yet in the session.
func (n *Negotiator) buildOffer() (*sdp.SessionDescription, []int) {
	d := n.newDesc(nil)
	caps := n.caps.Media
	used := make([]bool, len(caps))
	var slots []int
	if prev := n.active.local; prev != nil {
		for i, pm := range prev.MediaDescriptions {
			j := -1
			if i < len(n.active.slots) {
				j = n.active.slots[i]
			}
			if j >= 0 && j < len(caps) && !used[j] && caps[j].Port != 0 &&
				strings.EqualFold(caps[j].Type, pm.MediaName.Media) {
				used[j] = true
				d.MediaDescriptions = append(d.MediaDescriptions, n.offerMedia(&caps[j], pm))
				slots = append(slots, j)
				continue
			}
			d.MediaDescriptions = append(d.MediaDescriptions, disabledMedia(pm))
			slots = append(slots, -1)
		}
	}
	for j := range caps {
		if used[j] || caps[j].Port == 0 {
			continue
		}
		d.MediaDescriptions = append(d.MediaDescriptions, n.offerMedia(&caps[j], nil))
		slots = append(slots, j)
	}
	return d, slots
}

// offerMedia writes the m= line for local stream m. For a re-offer, prev is
// our previous m= line in that place: a codec keeps the payload type it had
// there and no number is given to another codec (RFC 3264 §8.3.2).
func (n *Negotiator) offerMedia(m *Media, prev *sdp.MediaDescription) *sdp.MediaDescription {
	md := &sdp.MediaDescription{MediaName: sdp.MediaName{
		Media:  m.Type,
		Port:   sdp.RangedPort{Value: m.Port},
		Protos: strings.Split(m.Proto, "/"),
	}}
	n.mediaConn(md, m)
	if m.isRTP() {
		var prevCodecs []Codec
		if prev != nil && isRTPProto(protoOf(prev)) {
			prevCodecs = mediaCodecs(prev)
		}
		var taken [128]bool
		for _, pc := range prevCodecs {
			taken[pc.PayloadType] = true
		}
		var assigned [128]bool
		next := 96
		for _, c := range m.Codecs {
			pt := -1
			for _, pc := range prevCodecs {
				if pc.Matches(c) && !assigned[pc.PayloadType] {
					pt = int(pc.PayloadType)
					break
				}
			}
			if pt < 0 && !taken[c.PayloadType] && !assigned[c.PayloadType] {
				pt = int(c.PayloadType)
			}
			for pt < 0 && next < 128 {
				if !taken[next] && !assigned[next] {
					pt = next
				}
				next++
			}
			if pt < 0 {
				continue // no payload type left
			}
			assigned[pt] = true
			c.PayloadType = uint8(pt)
			appendCodec(md, c, c.Fmtp)
		}
	} else {
		md.MediaName.Formats = append(md.MediaName.Formats, m.Formats...)
		if len(md.MediaName.Formats) == 0 {
			md.MediaName.Formats = []string{"*"}
		}
	}
	md.Attributes = append(md.Attributes, m.Attributes...)
	md.Attributes = append(md.Attributes, sdp.Attribute{Key: n.localDir(m).String()})
	return md
}

func appendCodec(md *sdp.MediaDescription, c Codec, fmtp string) {
	pt := strconv.Itoa(int(c.PayloadType))
	md.MediaName.Formats = append(md.MediaName.Formats, pt)
	rtpmap := pt + " " + c.Name + "/" + strconv.FormatUint(uint64(c.ClockRate), 10)
	if c.Channels > 1 {
		rtpmap += "/" + strconv.Itoa(int(c.Channels))
	}
	md.Attributes = append(md.Attributes, sdp.Attribute{Key: "rtpmap", Value: rtpmap})
	if fmtp != "" {
		md.Attributes = append(md.Attributes, sdp.Attribute{Key: "fmtp", Value: pt + " " + fmtp})
	}
}

// disabledMedia is a rejected or disabled stream: the m= line of src with
// port 0 and its format list (RFC 3264 §6: "Any media formats listed are
// ignored. At least one MUST be present").
func disabledMedia(src *sdp.MediaDescription) *sdp.MediaDescription {
	md := &sdp.MediaDescription{MediaName: sdp.MediaName{
		Media:   src.MediaName.Media,
		Protos:  append([]string(nil), src.MediaName.Protos...),
		Formats: append([]string(nil), src.MediaName.Formats...),
	}}
	if len(md.MediaName.Formats) == 0 {
		if isRTPProto(protoOf(src)) {
			md.MediaName.Formats = []string{"0"}
		} else {
			md.MediaName.Formats = []string{"*"}
		}
	}
	return md
}

// canAnswer reports whether local stream m may answer the offered line om.
func canAnswer(m *Media, om *sdp.MediaDescription) bool {
	return m.Port != 0 && strings.EqualFold(m.Type, om.MediaName.Media) &&
		strings.EqualFold(m.Proto, protoOf(om))
}

// checkOffer applies RFC 3264 §8 to a re-offer from the same offerer: it
// may not have fewer m= lines than the active session. An offer from a
// different session (new o= session id, as after a B2BUA re-route) is
// answered as it is.
func (n *Negotiator) checkOffer(offer *sdp.SessionDescription) error {
	ar := n.active.remote
	if ar == nil || ar.Origin.SessionID != offer.Origin.SessionID || ar.Origin.Username != offer.Origin.Username {
		return nil
	}
	if len(offer.MediaDescriptions) < len(n.active.local.MediaDescriptions) {
		return &LineError{Err: ErrInvalidOffer, Index: -1, Reason: "fewer m= lines than the active session (RFC 3264 §8)"}
	}
	return nil
}

// buildAnswer answers offer line by line (RFC 3264 §6). An offered line is
// answered by the local stream that answered it before, else by the first
// unused local stream of the same media type and proto that has a format
// in common; otherwise it is rejected with port 0.
func (n *Negotiator) buildAnswer(offer *sdp.SessionDescription) (*sdp.SessionDescription, []int, error) {
	d := n.newDesc(offer)
	caps := n.caps.Media
	used := make([]bool, len(caps))
	slots := make([]int, len(offer.MediaDescriptions))
	d.MediaDescriptions = make([]*sdp.MediaDescription, 0, len(offer.MediaDescriptions))
	accepted := 0
	for i, om := range offer.MediaDescriptions {
		slots[i] = -1
		var md *sdp.MediaDescription
		if om.MediaName.Port.Value != 0 {
			try := func(j int) bool {
				if j < 0 || j >= len(caps) || used[j] || !canAnswer(&caps[j], om) {
					return false
				}
				if md = n.answerMedia(&caps[j], offer, om); md == nil {
					return false
				}
				used[j], slots[i] = true, j
				return true
			}
			ok := i < len(n.active.slots) && try(n.active.slots[i])
			for j := 0; !ok && j < len(caps); j++ {
				ok = try(j)
			}
		}
		if md == nil {
			md = disabledMedia(om)
		} else {
			accepted++
		}
		d.MediaDescriptions = append(d.MediaDescriptions, md)
	}
	if accepted == 0 && len(offer.MediaDescriptions) > 0 {
		return nil, nil, ErrNoCommonMedia
	}
	return d, slots, nil
}

// answerMedia answers offered line om with local stream m, or returns nil
// when they have no format in common.
func (n *Negotiator) answerMedia(m *Media, offer *sdp.SessionDescription, om *sdp.MediaDescription) *sdp.MediaDescription {
	md := &sdp.MediaDescription{MediaName: sdp.MediaName{
		Media:  om.MediaName.Media,
		Port:   sdp.RangedPort{Value: m.Port},
		Protos: append([]string(nil), om.MediaName.Protos...),
	}}
	n.mediaConn(md, m)
	if m.isRTP() {
		offered := mediaCodecs(om)
		md.MediaName.Formats = make([]string, 0, len(offered))
		md.Attributes = make([]sdp.Attribute, 0, 2*len(offered)+len(m.Attributes)+1)
		var seen [128]bool
		usable := false
		for _, oc := range offered {
			if seen[oc.PayloadType] {
				continue
			}
			for _, lc := range m.Codecs {
				if !lc.Matches(oc) {
					continue
				}
				seen[oc.PayloadType] = true
				fmtp := lc.Fmtp
				if fmtp == "" {
					fmtp = oc.Fmtp
				}
				appendCodec(md, oc, fmtp)
				usable = usable || !oc.auxiliary()
				break
			}
		}
		if !usable {
			return nil
		}
	} else {
		wild := len(m.Formats) == 0
		for _, f := range m.Formats {
			wild = wild || f == "*"
		}
		for _, f := range om.MediaName.Formats {
			if wild || contains(m.Formats, f) {
				md.MediaName.Formats = append(md.MediaName.Formats, f)
			}
		}
		if len(md.MediaName.Formats) == 0 {
			if !wild || len(om.MediaName.Formats) > 0 {
				return nil
			}
			md.MediaName.Formats = []string{"*"}
		}
	}
	offered := directionOfDesc(offer, om)
	if legacyHold(offer, om) {
		offered = offered.Intersect(SendOnly) // the offerer will not receive
	}
	md.Attributes = append(md.Attributes, m.Attributes...)
	md.Attributes = append(md.Attributes, sdp.Attribute{Key: offered.Answer(n.localDir(m)).String()})
	return md
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkAnswer applies RFC 3264 §6 to an answer to our offer.
func checkAnswer(offer, answer *sdp.SessionDescription) error {
	if len(answer.MediaDescriptions) != len(offer.MediaDescriptions) {
		return &LineError{Err: ErrInvalidAnswer, Index: -1, Reason: "number of m= lines differs from the offer"}
	}
	for i, am := range answer.MediaDescriptions {
		om := offer.MediaDescriptions[i]
		if am.MediaName.Port.Value != 0 && !strings.EqualFold(am.MediaName.Media, om.MediaName.Media) {
			return &LineError{Err: ErrInvalidAnswer, Index: i, Reason: "media type differs from the offer"}
		}
	}
	return nil
}

// buildSession derives the per-stream result of a completed exchange.
func buildSession(ex *exchange) *Session {
	local, remote := ex.local, ex.remote
	s := &Session{
		Local: local, Remote: remote,
		LocalSDP: ex.localRaw, RemoteSDP: ex.remoteRaw,
		LocalOffered: ex.localOffered,
		Streams:      make([]Stream, 0, len(local.MediaDescriptions)),
	}
	for i, lm := range local.MediaDescriptions {
		if i >= len(remote.MediaDescriptions) {
			break
		}
		rm := remote.MediaDescriptions[i]
		st := Stream{
			Index:      i,
			Type:       lm.MediaName.Media,
			Proto:      protoOf(lm),
			LocalPort:  lm.MediaName.Port.Value,
			RemotePort: rm.MediaName.Port.Value,
			RemoteAddr: connAddr(remote, rm),
		}
		st.Rejected = st.LocalPort == 0 || st.RemotePort == 0
		if !st.Rejected {
			if isRTPProto(st.Proto) {
				lc := mediaCodecs(lm)
				usable := false
				for _, c := range mediaCodecs(rm) {
					for _, l := range lc {
						if l.Matches(c) {
							st.Codecs = append(st.Codecs, c)
							usable = usable || !c.auxiliary()
							break
						}
					}
				}
				st.Rejected = !usable
			} else {
				st.Formats = rm.MediaName.Formats
			}
		}
		if st.Rejected {
			st.Direction, st.Codecs, st.Formats = Inactive, nil, nil
		} else {
			rd := directionOfDesc(remote, rm)
			if legacyHold(remote, rm) {
				rd = rd.Intersect(SendOnly)
			}
			st.Held = !rd.Receives()
			st.Direction = directionOfDesc(local, lm).Intersect(rd.Reverse())
		}
		s.Streams = append(s.Streams, st)
	}
	return s
}
