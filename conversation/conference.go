package conversation

import (
	"context"

	"github.com/sipua-go/sipua/presence"
	"github.com/sipua-go/sipua/sip/ua"
)

// Join joins the conference at Remote (Config.Conference), as accepting a
// conference invitation whose modalities include IM does (AT-P3-1): an
// INVITE with an m=message offer to the focus (its IM leg, which carries
// the conference's messages both ways), and a subscription to the
// conference event package (RFC 4575) whose NOTIFYs keep the Roster. It
// completes only when our own participant (Endpoint's address, with a
// connected endpoint) appears in the roster; before that, or after a
// failure, the conversation is not Established. Single-flight and bounded
// by Config.Timeout (*TimeoutError) as every operation.
func (c *Conversation) Join(ctx context.Context) error {
	if !c.cfg.Conference {
		return ErrNotConference
	}
	_, err := c.do(ctx, "join", func(ctx context.Context) (any, error) {
		c.mu.Lock()
		if c.state == Established {
			c.mu.Unlock()
			return nil, nil
		}
		c.setStateLocked(Establishing, nil)
		c.mu.Unlock()
		err := c.join(ctx)
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			if c.state == Establishing {
				c.setStateLocked(Idle, err)
			}
			return nil, err
		}
		c.setStateLocked(Established, nil)
		return nil, nil
	})
	return err
}

func (c *Conversation) join(ctx context.Context) error {
	if _, err := c.AddMessaging(ctx); err != nil {
		return err
	}
	if err := c.subscribe(ctx); err != nil {
		return err
	}
	select {
	case <-c.selfSeen:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// subscribe starts the conference event subscription once.
func (c *Conversation) subscribe(ctx context.Context) error {
	c.mu.Lock()
	sub := c.sub
	c.mu.Unlock()
	if sub != nil {
		return nil
	}
	sc := presence.SubscriptionConfig{UA: c.u, Resource: c.cfg.Remote, From: c.cfg.Endpoint.Address(),
		Contact: c.cfg.Endpoint.Contact(), Event: "conference", Accept: ConferenceInfoType,
		OnEvent: c.subscriptionEvent}
	if e, ok := c.cfg.Endpoint.(ua.Endpoint); ok {
		sc.Sender = e
	}
	sub, err := presence.NewSubscription(sc)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.sub = sub
	c.mu.Unlock()
	if err := sub.Subscribe(ctx); err != nil {
		c.mu.Lock()
		c.sub = nil
		c.mu.Unlock()
		_ = sub.Close(context.WithoutCancel(ctx))
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return err
	}
	return nil
}

// subscriptionEvent applies conference-info NOTIFY bodies to the roster.
func (c *Conversation) subscriptionEvent(ev presence.SubscriptionEvent) {
	n, ok := ev.(presence.NotifyReceived)
	if !ok || len(n.Body) == 0 {
		return
	}
	info, err := ParseConferenceInfo(n.Body)
	if err != nil {
		return
	}
	change, needFull := c.roster.Apply(info)
	if needFull {
		c.mu.Lock()
		sub := c.sub
		c.mu.Unlock()
		if sub != nil {
			_ = sub.Refresh() // RFC 4575 §4.6: a refresh brings the full state
		}
		return
	}
	if !change.empty() {
		c.ev.emit(RosterChanged{change})
	}
	if p, ok := c.roster.Participant(c.cfg.Endpoint.Address().URI.String()); ok && p.Connected() {
		c.mu.Lock()
		if !c.self {
			c.self = true
			close(c.selfSeen)
		}
		c.mu.Unlock()
	}
}
