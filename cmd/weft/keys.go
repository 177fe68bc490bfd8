package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/weft-fabric/weft/access/keys"
	"github.com/weft-fabric/weft/access/keys/keysql"
)

// withKeys opens the signing-key ring for an admin command.
func (c *cli) withKeys(cmd *cobra.Command, fn func(a *app, m *keys.Manager, cfg Config) error) error {
	return c.withApp(cmd.Context(), func(a *app) error {
		kek, err := loadKEK(a.cfg, a.log)
		if err != nil {
			return err
		}
		m, err := keys.New(keysql.New(a.db), a.db, keys.Config{KEK: kek, Logger: a.log, Refresh: a.cfg.SigningKeysRefresh})
		if err != nil {
			return err
		}
		if _, err := m.EnsureKeys(cmd.Context()); err != nil {
			return err
		}
		return fn(a, m, a.cfg)
	})
}

type keyView struct {
	KID         string `json:"kid"`
	Alg         string `json:"alg"`
	State       string `json:"state"`
	CreatedAt   string `json:"created_at"`
	ActivatedAt string `json:"activated_at,omitempty"`
	RetireAfter string `json:"retire_after,omitempty"`
}

func viewKey(i keys.Info) keyView {
	v := keyView{KID: i.KID, Alg: string(i.Alg), State: string(i.State), CreatedAt: stamp(i.CreatedAt)}
	if !i.ActivatedAt.IsZero() {
		v.ActivatedAt = stamp(i.ActivatedAt)
	}
	if !i.RetireAfter.IsZero() {
		v.RetireAfter = stamp(i.RetireAfter)
	}
	return v
}

func newKeysCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage the token signing keys", Args: cobra.NoArgs}
	list := &cobra.Command{
		Use:   "list",
		Short: "List signing keys (public information only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withKeys(cmd, func(_ *app, m *keys.Manager, _ Config) error {
				infos, err := m.Keys(cmd.Context())
				if err != nil {
					return err
				}
				views := make([]keyView, len(infos))
				rows := make([][]string, len(infos))
				for i, in := range infos {
					views[i] = viewKey(in)
					rows[i] = []string{views[i].KID, views[i].Alg, views[i].State, views[i].CreatedAt, dash(views[i].RetireAfter)}
				}
				if c.output == "json" {
					return writeJSON(c.stdout, map[string]any{"keys": views})
				}
				return table(c.stdout, []string{"KID", "ALG", "STATE", "CREATED", "RETIRE AFTER"}, rows)
			})
		},
	}
	var alg string
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Rotate a signing key: the published next key starts signing",
		Long: `Rotate the signing key of one algorithm. The "next" key, published in JWKS since the
previous rotation, becomes the signing key; the old signing key stays published until
every token it signed has expired (the longest of id_token_ttl and access_token_ttl),
and a new "next" key is published. Running servers pick the change up within
signing_keys_refresh (30 s by default).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := keys.ParseAlg(alg)
			if err != nil {
				return usagef("--alg: %v", err)
			}
			return c.withKeys(cmd, func(_ *app, m *keys.Manager, cfg Config) error {
				retain := max(cfg.IDTokenTTL, cfg.AccessTokenTTL) + time.Hour // clock skew and caches
				rot, err := m.Rotate(cmd.Context(), a, retain)
				if err != nil {
					return err
				}
				if c.output == "json" {
					return writeJSON(c.stdout, map[string]any{"retired": viewKey(rot.Retired), "current": viewKey(rot.Current), "next": viewKey(rot.Next)})
				}
				_, err = fmt.Fprintf(c.stdout, "%s: now signing with %s; %s retired (published until %s); next is %s\n",
					a, rot.Current.KID, rot.Retired.KID, stamp(rot.Retired.RetireAfter), rot.Next.KID)
				return err
			})
		},
	}
	rotate.Flags().StringVar(&alg, "alg", "ES256", "algorithm whose key to rotate: ES256 or RS256")
	cmd.AddCommand(list, rotate)
	return cmd
}
