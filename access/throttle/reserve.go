package throttle

import (
	"context"
	"errors"
)

// take is one token from one bucket.
type take struct {
	key string
	lim Limit
}

// Reservation is the tokens an attempt took before it was evaluated. A failed attempt
// keeps them (that is the count); Succeeded and Cancel give them back.
type Reservation struct {
	store Store
	taken []take
	// onSuccess runs after the tokens are given back (remembering a known address or
	// device).
	onSuccess func(ctx context.Context) error
}

// reserve takes one token from every bucket, or none: when one is empty the others get
// theirs back and the attempt is refused with that bucket's wait.
func reserve(ctx context.Context, s Store, want ...take) (*Reservation, error) {
	r := &Reservation{store: s}
	for _, w := range want {
		res, err := s.Take(ctx, w.key, w.lim, 1)
		if err == nil && res.Allowed {
			r.taken = append(r.taken, w)
			continue
		}
		r.Cancel(ctx)
		if err != nil {
			return nil, err
		}
		return nil, refused(res.RetryAfter)
	}
	return r, nil
}

// Succeeded gives the tokens back: what succeeded was no failure.
func (r *Reservation) Succeeded(ctx context.Context) error {
	err := r.giveBack(ctx)
	if r.onSuccess != nil {
		err = errors.Join(err, r.onSuccess(ctx))
	}
	return err
}

// Cancel gives the tokens back: nothing was decided (hashing was busy, the request
// ended), so nothing failed.
func (r *Reservation) Cancel(ctx context.Context) {
	_ = r.giveBack(ctx)
}

func (r *Reservation) giveBack(ctx context.Context) error {
	var errs []error
	for _, t := range r.taken {
		errs = append(errs, r.store.Give(ctx, t.key, t.lim, 1))
	}
	r.taken = nil
	return errors.Join(errs...)
}
