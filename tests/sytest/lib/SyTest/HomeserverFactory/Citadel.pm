# SyTest's factory for Citadel homeservers: `run-tests.pl -I Citadel --citadel-binary PATH`.
# Each server SyTest asks for is its own `citadel` process with its own data directory,
# so the federation tests that need two homeservers run too.
use strict;
use warnings;

require SyTest::Homeserver::Citadel;

package SyTest::HomeserverFactory::Citadel;
use base qw( SyTest::HomeserverFactory );

sub _init
{
   my $self = shift;
   $self->{args} = {
      binary => "../target/release/citadel",
   };
   $self->SUPER::_init( @_ );
}

sub implementation_name { "citadel" }

sub get_options
{
   my $self = shift;
   return (
      'citadel-binary=s' => \$self->{args}{binary},
      $self->SUPER::get_options(),
   );
}

sub print_usage
{
   print STDERR "       --citadel-binary PATH   - the citadel executable to run\n",
                "                                 (default ../target/release/citadel)\n";
}

sub create_server
{
   my $self = shift;
   my %params = ( @_, %{ $self->{args} } );
   return SyTest::Homeserver::Citadel->new( %params );
}

1;
